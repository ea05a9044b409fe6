// Writes devs-yml.schema.json (editor completion for DEVS.yml) from the schema in
// src/config/schema.ts. Run after changing the schema: node --import tsx scripts/write-schema.ts
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { SCHEMA_FILE_NAME, schemaJson } from "../src/config/schema.js";

const target = fileURLToPath(new URL(`../${SCHEMA_FILE_NAME}`, import.meta.url));
writeFileSync(target, schemaJson());
process.stdout.write(`wrote ${target}\n`);
