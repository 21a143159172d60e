# Multi-stage build: compile in the Rust image, run as a non-root user on a
# slim Debian base. Templates, the stylesheet, migrations and the breached-
# password list are compiled into the binary, so the runtime image holds one
# file. The context is the whole checkout minus what .dockerignore leaves out
# (tests/api/release.rs checks that nothing the compile reads is left out).
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when Cargo.toml
# or Cargo.lock change. The empty lib and main stand in for our sources.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src target/release/gatehouse* target/release/deps/gatehouse-* target/release/deps/libgatehouse-* \
    target/release/.fingerprint/gatehouse-*

# Then everything else; only gatehouse itself compiles here.
COPY . .
RUN cargo build --release --locked --bin gatehouse

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/gatehouse --create-home gatehouse \
 && mkdir -p /var/lib/gatehouse/data \
 && chown 10001:10001 /var/lib/gatehouse/data
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
USER 10001:10001
WORKDIR /var/lib/gatehouse
# Set GATEHOUSE_ISSUER to the public https URL in production.
# MALLOC_MMAP_THRESHOLD_: glibc gives each Argon2 block (19 MiB) back to the
# system when the hash ends, instead of keeping it in a fragmented heap; under
# a stream of sign-ins RSS stays near 40 MB instead of growing past 400 MB
# (README, "Performance").
ENV GATEHOUSE_LISTEN=0.0.0.0:8080 \
    GATEHOUSE_DATA_DIR=/var/lib/gatehouse/data \
    MALLOC_MMAP_THRESHOLD_=1048576
VOLUME ["/var/lib/gatehouse/data"]
EXPOSE 8080
# `gatehouse health` probes /health/ready on GATEHOUSE_LISTEN (loopback for
# 0.0.0.0), so the image needs no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["gatehouse", "health"]
ENTRYPOINT ["gatehouse"]
CMD ["serve"]
