# syntax=docker/dockerfile:1

# ---- build ---------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Only what the release binary needs; the runtime stage gets just the binary.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
COPY benches ./benches
# The demo embeds the example rules.
COPY rules.example.yaml ./
RUN cargo build --release --locked --bin qoswatch \
 && install -D -m 0755 target/release/qoswatch /out/qoswatch

# ---- runtime: no compiler, no shell tools beyond the base image ------------
FROM debian:bookworm-slim
# ca-certificates tracks the distribution's trust store; pinning it would
# freeze stale roots.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 qoswatch \
 && useradd --system --uid 10001 --gid qoswatch --home-dir /var/lib/qoswatch --shell /usr/sbin/nologin qoswatch \
 && install -d -o qoswatch -g qoswatch /var/lib/qoswatch /etc/qoswatch
COPY --from=build /out/qoswatch /usr/local/bin/qoswatch
COPY config/qoswatch.example.yaml /etc/qoswatch/qoswatch.yaml
COPY rules.example.yaml /etc/qoswatch/rules.yaml

USER 10001:10001
WORKDIR /var/lib/qoswatch
# Settings and rules (mount your own over them) and the data directory.
VOLUME ["/etc/qoswatch", "/var/lib/qoswatch"]
ENV QOSWATCH_CONFIG=/etc/qoswatch/qoswatch.yaml \
    QOSWATCH_RULES_FILE=/etc/qoswatch/rules.yaml \
    QOSWATCH_DATA_DIR=/var/lib/qoswatch \
    QOSWATCH_LISTEN=0.0.0.0:8080 \
    QOSWATCH_LOG_FORMAT=json
# 8080: Zoom's webhooks. The admin listener (status page, API, metrics,
# probes) stays on the container's loopback, 127.0.0.1:9180; to reach it
# from outside set QOSWATCH_ADMIN_LISTEN=0.0.0.0:9180 and
# QOSWATCH_ADMIN_TOKEN (or _FILE), and publish 9180.
EXPOSE 8080
# The binary checks itself: no curl in the image. It asks the admin
# listener; if you change QOSWATCH_ADMIN_LISTEN's port, override --url too.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["qoswatch", "healthcheck", "--url", "http://127.0.0.1:9180/healthz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["qoswatch"]
CMD ["serve"]
