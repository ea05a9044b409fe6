# The app in a container, for one Docker host (see docker-compose.yml). It drives the host's
# Docker engine through the mounted socket, so the task containers are the host's siblings, not
# nested ones. The paths it bind-mounts into them (WORKSPACE_DIR, and DATA_DIR/agent-cli, where it
# stages the Claude Code build npm installed here) must mean the same on the host: keep
# /var/lib/devs-webhook at the same path on both sides.
FROM node:22-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary is reachable.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json app.yml devs-yml.schema.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
# git for the repository cache and publishing; tini reaps what the app spawns and passes SIGTERM on.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends git ca-certificates tini && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json app.yml devs-yml.schema.json ./
ENV NODE_ENV=production \
    WEBHOOK_HOST=0.0.0.0 \
    WEBHOOK_PORT=8000 \
    DATA_DIR=/var/lib/devs-webhook \
    REPO_CACHE_DIR=/var/lib/devs-webhook/repos \
    WORKSPACE_DIR=/var/lib/devs-webhook/workspaces \
    DEVS_ENVS_DIR=/etc/devs-webhook/envs
VOLUME /var/lib/devs-webhook
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:8000/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/cli.js"]
CMD ["serve"]
