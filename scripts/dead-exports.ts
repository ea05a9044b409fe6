// Lists exported names of src/ that no other file imports (src, test, bench, scripts): either
// dead code, or an export that only its own module uses and that should not be exported.
// Reads the import and export declarations of every file of tsconfig.json, each parsed on its own
// and resolved as the compiler would, without type-checking (a few seconds).
// Types are left out unless asked for: most name a parameter or a result of an exported function
// (options, deps), and stay exported for the callers that build one.
//   node --import tsx scripts/dead-exports.ts [--types] [--product]     (exit code 1 when something is listed)
// --product counts only imports from src/: what is left is code only the tests use.
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const withTypes = process.argv.includes("--types");
const productOnly = process.argv.includes("--product");
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Modules loaded by name from outside the import graph (package.json's bin, the Lambda handler). */
const ENTRY_POINTS = new Set(["src/cli.ts", "src/lambda.ts"]);

const configPath = resolve(root, "tsconfig.json");
const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
if (!config) throw new Error("could not read tsconfig.json");
const sourceFiles = config.fileNames
  .filter((f) => /\.[cm]?[jt]s$/.test(f) && !f.endsWith(".d.ts"))
  .map((f) => ts.createSourceFile(f, ts.sys.readFile(f) ?? "", ts.ScriptTarget.Latest, true));
const rel = (fileName: string) => relative(root, fileName);

function resolveModule(from: ts.SourceFile, specifier: string): string | null {
  const found = ts.resolveModuleName(specifier, from.fileName, config!.options, ts.sys).resolvedModule;
  if (!found || found.isExternalLibraryImport) return null;
  return rel(found.resolvedFileName);
}

/** For each module: the names other files take from it; `*` when a file takes all of them. */
const used = new Map<string, Set<string>>();
const use = (module: string, name: string) => {
  if (!used.has(module)) used.set(module, new Set());
  used.get(module)!.add(name);
};

function visit(file: ts.SourceFile, node: ts.Node): void {
  if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
    const target = resolveModule(file, node.moduleSpecifier.text);
    const clause = node.importClause;
    if (target && clause) {
      if (clause.name) use(target, "default");
      const bindings = clause.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) use(target, "*");
      if (bindings && ts.isNamedImports(bindings)) for (const e of bindings.elements) use(target, (e.propertyName ?? e.name).text);
    }
  } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
    const target = resolveModule(file, node.moduleSpecifier.text);
    const clause = node.exportClause;
    if (target && (!clause || ts.isNamespaceExport(clause))) use(target, "*");
    if (target && clause && ts.isNamedExports(clause)) for (const e of clause.elements) use(target, (e.propertyName ?? e.name).text);
  } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
    const [arg] = node.arguments;
    const target = arg && ts.isStringLiteral(arg) ? resolveModule(file, arg.text) : null;
    if (target) use(target, "*");
  } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
    const target = resolveModule(file, node.argument.literal.text);
    if (target) use(target, node.qualifier && ts.isIdentifier(node.qualifier) ? node.qualifier.text : "*");
  }
  ts.forEachChild(node, (child) => visit(file, child));
}

for (const file of sourceFiles) if (!productOnly || rel(file.fileName).startsWith("src/")) visit(file, file);

/** The names a module exports, read from its syntax: `export` declarations and `export { … }`. */
function exportsOf(file: ts.SourceFile): Array<{ name: string; line: number; isType: boolean }> {
  const out: Array<{ name: string; line: number; isType: boolean }> = [];
  const add = (name: string, node: ts.Node, isType: boolean) => out.push({ name, line: file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1, isType });
  for (const statement of file.statements) {
    const modifiers = ts.canHaveModifiers(statement) ? (ts.getModifiers(statement) ?? []) : [];
    const exported = modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    const isDefault = modifiers.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
    if (exported && isDefault) add("default", statement, false);
    else if (exported && ts.isVariableStatement(statement)) {
      for (const d of statement.declarationList.declarations) if (ts.isIdentifier(d.name)) add(d.name.text, d, false);
    } else if (exported && (ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement))) add(statement.name.text, statement, true);
    else if (exported && (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isEnumDeclaration(statement)) && statement.name) {
      add(statement.name.text, statement, false);
    } else if (ts.isExportDeclaration(statement) && statement.exportClause && ts.isNamedExports(statement.exportClause)) {
      for (const e of statement.exportClause.elements) add(e.name.text, e, statement.isTypeOnly || e.isTypeOnly);
    }
  }
  return out;
}

const dead: string[] = [];
for (const file of sourceFiles) {
  const name = rel(file.fileName);
  if (!name.startsWith("src/") || ENTRY_POINTS.has(name)) continue;
  const taken = used.get(name) ?? new Set<string>();
  if (taken.has("*")) continue;
  for (const symbol of exportsOf(file)) {
    if (symbol.isType && !withTypes) continue;
    if (!taken.has(symbol.name)) dead.push(`${name}:${symbol.line} ${symbol.isType ? "type " : ""}${symbol.name}`);
  }
}

if (dead.length) {
  process.stdout.write(`Exported but imported nowhere else (remove it, or drop the export):\n${dead.map((d) => `  ${d}\n`).join("")}`);
  process.exitCode = 1;
}
