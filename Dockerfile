# Multi-stage build: compile in the Rust image, run as a non-root user on a
# slim Debian base. Templates, stylesheet and migrations are compiled into
# the binary, so the runtime image holds one file.
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY templates templates
COPY static static
RUN cargo build --release --locked

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
ENV GATEHOUSE_LISTEN=0.0.0.0:8080 \
    GATEHOUSE_DATA_DIR=/var/lib/gatehouse/data
VOLUME ["/var/lib/gatehouse/data"]
EXPOSE 8080
ENTRYPOINT ["gatehouse"]
CMD ["serve"]
