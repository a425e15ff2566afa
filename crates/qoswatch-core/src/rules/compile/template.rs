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
                match Var::ALL.iter().find(|(_, n)| *n == name) {
                    Some((var, _)) => {
                        if !literal.is_empty() {
                            pieces.push(Piece::Text(std::mem::take(&mut literal)));
                        }
                        pieces.push(Piece::Var(*var));
                    }
                    None => {
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
                        ok = false;
                    }
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
