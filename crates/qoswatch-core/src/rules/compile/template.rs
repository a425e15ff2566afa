//! `{placeholder}` templates of `summary:` and `runbook:`.

use crate::rules::diag::suggestion;
use crate::rules::model::{Piece, Template, Var};
use crate::rules::yaml::Node;

use super::fields::{Ctx, string};

/// Parses a `{placeholder}` template; `{{` and `}}` are literal braces.
pub(crate) fn template(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Template> {
    let text = string(ctx, node, what)?;
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    let mut ok = true;
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                let name = name.trim();
                if !closed {
                    ctx.error(
                        node.pos,
                        format!("unclosed `{{` in {what}; write `{{{{` for a literal brace"),
                    );
                    ok = false;
                    break;
                }
                match placeholder(ctx, node, what, name) {
                    Some(var) => {
                        if !literal.is_empty() {
                            pieces.push(Piece::Text(std::mem::take(&mut literal)));
                        }
                        pieces.push(Piece::Var(var));
                    }
                    None => ok = false,
                }
            }
            '}' => {
                ctx.error(
                    node.pos,
                    format!("unmatched `}}` in {what}; write `}}}}` for a literal brace"),
                );
                ok = false;
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    ok.then_some(Template(pieces))
}

/// The variable a `{name}` stands for; an unknown name is reported.
fn placeholder(ctx: &mut Ctx, node: &Node, what: &str, name: &str) -> Option<Var> {
    if let Some((var, _)) = Var::ALL.iter().find(|(_, n)| *n == name) {
        return Some(*var);
    }
    ctx.error(
        node.pos,
        format!(
            "unknown placeholder `{{{name}}}` in {what}{}; expected one of: {}",
            suggestion(name, Var::ALL.iter().map(|(_, n)| *n)),
            Var::ALL
                .iter()
                .map(|(_, n)| format!("{{{n}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::diag::Pos;
    use crate::rules::yaml::Value;

    fn parse(text: &str) -> (Option<Template>, Vec<String>) {
        let mut ctx = Ctx::default();
        let node = Node {
            value: Value::Str(text.into()),
            pos: Pos { line: 1, column: 1 },
        };
        let template = template(&mut ctx, &node, "`summary`");
        let messages = ctx.errors.into_iter().map(|d| d.message).collect();
        (template, messages)
    }

    #[test]
    fn placeholders_and_literal_braces() {
        let (template, errors) = parse("{{x}} { participant } at {value}!");
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(
            template,
            Some(Template(vec![
                Piece::Text("{x} ".into()),
                Piece::Var(Var::Participant),
                Piece::Text(" at ".into()),
                Piece::Var(Var::Value),
                Piece::Text("!".into()),
            ]))
        );
    }

    #[test]
    fn unknown_unclosed_and_unmatched_braces_are_errors() {
        let (template, errors) = parse("{partcipant} }");
        assert_eq!(template, None);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "unknown placeholder `{partcipant}` in `summary` (did you mean `participant`?); expected one of: {participant}, "
            ),
            "{errors:?}"
        );
        assert!(errors[1].starts_with("unmatched `}`"), "{errors:?}");
        let (template, errors) = parse("{value");
        assert_eq!(template, None);
        assert_eq!(
            errors,
            ["unclosed `{` in `summary`; write `{{` for a literal brace"]
        );
    }
}
