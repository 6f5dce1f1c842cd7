# cairn's container image: the static binary and nothing else. FROM
# scratch means no shell, no libc, no CA certificates and no users; cairn
# needs none of them (CGO_ENABLED=0, no user lookups; certificates for
# TLS are mounted and named by CAIRN_*_TLS_* variables, as
# docker-compose.tls.yml does).
#
# `make image` builds bin/cairn on the host, then this image from it
# (.dockerignore sends only bin/cairn to the engine):
#
#   make image
#   docker run -d --name cairn -p 127.0.0.1:4222:4222 -p 127.0.0.1:8222:8222 \
#     -v cairn-data:/data cairn:latest
#
# A node in a cluster also needs a peer address the others can dial: set
# CAIRN_PEER_ADDR to HOSTNAME:6222 (a name that resolves to the container),
# CAIRN_JOIN and CAIRN_EXPECT. docker-compose.cluster.yml does that for
# three nodes; docs/getting-started.md explains it.
FROM scratch

ARG VERSION=dev
LABEL org.opencontainers.image.title="cairn" \
      org.opencontainers.image.description="Distributed key/value database speaking the NATS JetStream KV protocol" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/cairnkv/cairn"

COPY bin/cairn /cairn

# Snapshots received from peers and uploaded restores are spooled in the
# temporary directory, which scratch lacks: WORKDIR creates it (and the
# data directory). Nothing else may live in /data: a node refuses a data
# directory holding files it did not write.
WORKDIR /tmp
WORKDIR /data
VOLUME ["/data"]

# Clients and the HTTP API on every interface (a client address on
# 0.0.0.0 is advertised to peers under the node's gossip address), gossip
# on every interface (memberlist advertises the container's private IP).
ENV CAIRN_DATA_DIR=/data \
    CAIRN_CLIENT_ADDR=0.0.0.0:4222 \
    CAIRN_HTTP_ADDR=0.0.0.0:8222 \
    CAIRN_GOSSIP_ADDR=0.0.0.0:7946

# NATS clients, HTTP API, raft peers, gossip (TCP and UDP).
EXPOSE 4222 8222 6222 7946 7946/udp

# No shell in the image: the check is cairn itself, in exec form. It asks
# $CAIRN_SERVER (default nats://127.0.0.1:4222) for $JS.API.INFO.
HEALTHCHECK --interval=5s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/cairn", "health", "--timeout", "3s"]

ENTRYPOINT ["/cairn"]
CMD ["node"]
