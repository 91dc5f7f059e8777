# syntax=docker/dockerfile:1
# Release image of cutover: one static-ish binary on a slim Debian base, run as a non-root user.
#   docker build -t cutover:dev .
#   docker run --rm cutover:dev validate /usr/share/cutover/scenarios/coze-migration.yaml
# Used by deploy/k8s/ (see deploy/README.md). Needs BuildKit (the default builder since Docker 23) for the cache mounts.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target caches survive between builds; the binary is copied out of the cached target dir because
# a cache mount is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin cutover \
    && install -D -m 0755 target/release/cutover /out/cutover

FROM debian:bookworm-slim
# ca-certificates: reqwest uses rustls with the embedded webpki roots today, so TLS works without it; it is kept so a
# switch to the platform trust store (or a corporate CA added by a derived image) needs no rebuild of this layer.
# No fonts: the charts embed DejaVu through the `dejavu` crate.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 cutover \
    && useradd --system --uid 10001 --gid 10001 --home-dir /work --create-home --shell /usr/sbin/nologin cutover
COPY --from=builder /out/cutover /usr/local/bin/cutover
# The bundled scenarios, mock profiles and price table, for smoke runs: `run /usr/share/cutover/scenarios/...`.
COPY scenarios /usr/share/cutover/scenarios
COPY mocks /usr/share/cutover/mocks
COPY prices /usr/share/cutover/prices
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/cutover"]
CMD ["--help"]
