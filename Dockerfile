# Multi-stage build: compile with the full toolchain, ship only dist/, bin/ and production
# dependencies on Node 24, as a non-root user. GnuPG is not needed at run time: signatures are
# verified in-process.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production CVO_VERIFIER_NODE=/usr/local/bin/node
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY bin ./bin
USER 65532:65532
ENTRYPOINT ["/app/bin/cvo-verifier"]
CMD ["--help"]
