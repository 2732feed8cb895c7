# Multi-stage build: a static pushgateway-bridge on an empty base, running as
# nobody. Build: docker build -t pushgateway-bridge .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.1.0-dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION}" \
      -o /out/pushgateway-bridge ./cmd/pushgateway-bridge

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/pushgateway-bridge /bin/pushgateway-bridge
USER 65534:65534
EXPOSE 9098
ENTRYPOINT ["/bin/pushgateway-bridge"]
CMD ["--pushgateway.url=http://pushgateway:9091"]
