# syntax=docker/dockerfile:1
# Multi-stage, CGO-free build of the hotline: a static binary on distroless,
# run as a non-root user. The prompts and default configs are inside the
# binary; mount a volume on /data for the database and recordings.
#
#   docker build -t hotline .
#   docker run --network host --stop-timeout 80 -e RTP_IP=<host address> -v hotline-data:/data hotline
#
# --stop-timeout (docker stop -t, compose stop_grace_period) must cover
# shutdown.grace (60 s) plus the outbox flush (10 s) and a margin: 80 s.
#
# With port publishing instead of host networking, publish the RTP range too
# (-p 5060:5060/udp -p 5060:5060/tcp -p 8080:8080 -p 20000-29999:20000-29999/udp)
# and set RTP_IP to the address the SBC and softphones reach.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hotline ./cmd/hotline \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hotline /usr/local/bin/hotline
COPY --from=build --chown=65532:65532 /out/data /data
# The shipped configs/hotline.yaml reads these (see its comments).
ENV HOTLINE_DATA_DIR=/data \
    SIP_HOST=0.0.0.0 \
    HTTP_LISTEN=0.0.0.0:8080 \
    RTP_BIND_IP=0.0.0.0
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 5060/udp 5060/tcp 8080/tcp 20000-29999/udp
# /healthz on http.listen (no curl in distroless: the binary asks itself).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/hotline", "healthcheck", "--timeout", "4s"]
ENTRYPOINT ["/usr/local/bin/hotline"]
CMD ["serve"]
