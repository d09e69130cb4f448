# The perfbed image the charts run: one binary (`perfbed sim`, `perfbed run`, `perfbed report
# merge`, the ops commands) on an empty base. Nothing is published: build it and load or push it
# yourself (docs/runbook.md, step 01).
#
#   With Docker:        docker build -t ghcr.io/perfbed/perfbed:0.1.0 .
#   Without a daemon:   scripts/image        (buildah, vfs storage; what CI builds and runs)
#                       → results/image/perfbed-0.1.0.tar, an OCI archive with the same tag
#
# Both make the same image: the build stage runs `scripts/image --rootfs`, the very code that
# assembles scripts/image's layer (the binary, the shared libraries ldd lists — Debian
# bookworm's, as in this build stage —, glibc's NSS modules, the CA bundle, /etc/passwd and
# /etc/group with user nonroot 65532, /etc/nsswitch.conf, /tmp 1777), and the final stage is
# FROM scratch with the config scripts/image sets. `scripts/image --check` fails when the
# lines below marked "same as scripts/image" drift from it.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config cmake ca-certificates && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release -p perfbed \
 && scripts/image --binary target/release/perfbed --rootfs /rootfs

FROM scratch
COPY --from=build /rootfs /
# same as scripts/image:
ARG VERSION=0.1.0
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.source="https://github.com/perfbed/perfbed"
LABEL org.opencontainers.image.version="${VERSION}"
LABEL org.opencontainers.image.title="perfbed"
LABEL org.opencontainers.image.description="perfbed: performance testbed for Mojaloop switches (load driver, DFSP simulators, hub emulator, ops tools)"
LABEL org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/perfbed"]
