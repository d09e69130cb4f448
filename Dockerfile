# The perfbed image the charts run (ghcr.io/perfbed/perfbed): one binary, `perfbed sim`,
# `perfbed run`, `perfbed report merge`, the ops commands.
#   docker build -t ghcr.io/perfbed/perfbed:0.1.0 .
# (Not built in this project's CI: its machines have no container engine.)
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config cmake && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release -p perfbed && cp target/release/perfbed /perfbed

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --user-group --no-create-home nonroot
COPY --from=build /perfbed /usr/local/bin/perfbed
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/perfbed"]
