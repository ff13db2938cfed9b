# One image for every StreamBox service; the command picks the service.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin streambox

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/streambox --create-home streambox
COPY --from=build /src/target/release/streambox /usr/local/bin/streambox
USER streambox
ENV STREAMBOX_BIND=0.0.0.0:8080 \
    STREAMBOX_DATA_DIR=/var/lib/streambox
VOLUME /var/lib/streambox
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["streambox"]
CMD ["all"]
