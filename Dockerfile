# syntax=docker/dockerfile:1
# etc-esign's production image: the binary alone on distroless, running as uid 10001 (the
# Deployment's runAsUser). Build: `docker build -t etc-esign:0.1.0 .` (BuildKit, Docker 23+).
# No protoc needed: build.rs compiles the protos with protox. TLS is rustls (ring): no OpenSSL.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target between builds; the binary is copied out of the
# target cache in the same step, since cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_STRIP=symbols cargo build --release --locked --bin etc-esign \
    && install -D -m 0755 target/release/etc-esign /out/etc-esign

# glibc, libgcc and CA certificates (for e签宝 over HTTPS), no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/etc-esign /usr/local/bin/etc-esign
# Numeric, and the one the Deployment's runAsUser names (the base's own nonroot is 65532).
USER 10001:10001
# gRPC (the service, health, reflection) and HTTP (e签宝 callbacks, /metrics).
EXPOSE 50051 8080
ENTRYPOINT ["/usr/local/bin/etc-esign"]
CMD ["serve"]
