/**
 * `npm run e2e`: the browser specs need a live server seeded for each of them, which the pytest module
 * tests/e2e/test_browser.py provides; this runs it (build the bundle first with `make frontend`).
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const python = path.join(root, ".venv", "bin", "python");
const result = spawnSync(python, ["-m", "pytest", "tests/e2e", "-m", "integration", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});
process.exit(result.status ?? 1);
