# A static pushgateway-bridge on an empty base, running as nobody, with its
# queues and state in a volume, as Prometheus keeps its TSDB in /prometheus.
#
# Build it from source in a golang stage (the default):
#   docker build -t pushgateway-bridge .
# or from a binary built outside, with no base image to pull, as
# e2e/image_test.go does (see the README's Docker section for .build/):
#   docker build --build-arg BINARY=prebuilt -t pushgateway-bridge .

# BINARY names the stage that provides /out/: the bridge, the CA bundle and an
# empty data/ folder. A scratch image cannot RUN mkdir or chown, so the final
# stage copies that folder with its owner set instead.
ARG BINARY=build

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.1.0-dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION}" \
      -o /out/pushgateway-bridge ./cmd/pushgateway-bridge && \
    cp /etc/ssl/certs/ca-certificates.crt /out/ && \
    mkdir /out/data

FROM scratch AS prebuilt
COPY .build/ /out/

FROM ${BINARY} AS binary

FROM scratch
ARG VERSION=0.1.0-dev
LABEL org.opencontainers.image.authors="The pushgateway-bridge authors" \
      org.opencontainers.image.title="pushgateway-bridge" \
      org.opencontainers.image.description="Scrapes Prometheus Pushgateways and forwards their groups to remote-write receivers" \
      org.opencontainers.image.source="https://github.com/pushgateway-bridge/pushgateway-bridge" \
      org.opencontainers.image.url="https://github.com/pushgateway-bridge/pushgateway-bridge" \
      org.opencontainers.image.documentation="https://github.com/pushgateway-bridge/pushgateway-bridge/blob/main/README.md" \
      org.opencontainers.image.version="${VERSION}"

COPY --from=binary /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary /out/pushgateway-bridge /bin/pushgateway-bridge
COPY --from=binary --chown=65534:65534 /out/data/ /pushgateway-bridge/

USER       65534:65534
EXPOSE     9098
VOLUME     [ "/pushgateway-bridge" ]
# The default --storage.path, data/, resolves against the working directory:
# /pushgateway-bridge/data, inside the volume.
WORKDIR    /pushgateway-bridge
ENTRYPOINT [ "/bin/pushgateway-bridge" ]
