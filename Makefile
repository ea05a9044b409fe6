# Only for `sam build` (deploy/sam/template.yaml, BuildMethod: makefile): the Lambda ingress's
# package. npm ci also builds dist/ (the prepare script); then the dev dependencies go.
# Everyday commands are npm start and npm test.

build-IngressFunction:
	npm ci --no-audit --no-fund
	npm prune --omit=dev --no-audit --no-fund
	cp -R dist node_modules package.json "$(ARTIFACTS_DIR)/"
