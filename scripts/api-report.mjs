// The API report: docs/api/<entry>.api.md, made by API Extractor from the built declaration
// files (dist/src/*.d.ts, built with stripInternal, so `@internal` members are left out), one
// report per entry point of the exports map.
//
//   node scripts/api-report.mjs            rewrite docs/api/ (`npm run api` builds first)
//   node scripts/api-report.mjs --check    fail when docs/api/ differs from the types
//   --warnings                             also print API Extractor's findings (exports
//                                          missing from the entry point, undocumented items)
//   --package-dir DIR                      read the types from DIR (an unpacked tarball)
//                                          instead of this repository's dist/
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const repo = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const check = args.includes('--check');
const warnings = args.includes('--warnings');
const dirArg = args.indexOf('--package-dir');
const packageDir = dirArg === -1 ? repo : resolve(args[dirArg + 1] ?? '.');
const reportFolder = join(repo, 'docs/api');

/** Entry points: the report's name and the declaration file of the exports map's entry. */
const ENTRIES = [
  { name: 'spindle', dts: 'dist/src/index.d.ts' },
  { name: 'spindle-testing', dts: 'dist/src/testing.d.ts' },
  { name: 'spindle-etcd', dts: 'dist/src/etcd.d.ts' },
];

const temp = mkdtempSync(join(tmpdir(), 'spindle-api-'));
let failed = false;
try {
  for (const entry of ENTRIES) {
    const config = ExtractorConfig.prepare({
      configObject: {
        projectFolder: packageDir,
        mainEntryPointFilePath: join(packageDir, entry.dts),
        compiler: {
          overrideTsconfig: {
            compilerOptions: {
              target: 'ES2022',
              module: 'NodeNext',
              moduleResolution: 'NodeNext',
              strict: true,
              types: ['node'],
              typeRoots: [join(repo, 'node_modules/@types')],
              skipLibCheck: true,
            },
          },
        },
        apiReport: {
          enabled: true,
          reportFileName: entry.name,
          reportFolder,
          reportTempFolder: temp,
          includeForgottenExports: false,
        },
        docModel: { enabled: false },
        dtsRollup: { enabled: false },
        tsdocMetadata: { enabled: false },
        messages: {
          compilerMessageReporting: { default: { logLevel: 'warning' } },
          // Findings stay out of the report (they carry line numbers of the .d.ts files, which
          // would make every edit look like an API change); --warnings prints them.
          extractorMessageReporting: {
            default: { logLevel: 'warning', addToApiReportFile: false },
            'ae-missing-release-tag': { logLevel: 'none' },
            'ae-undocumented': { logLevel: 'warning', addToApiReportFile: false },
          },
          tsdocMessageReporting: { default: { logLevel: 'none' } },
        },
      },
      configObjectFullPath: join(repo, 'scripts/api-extractor.json'),
      packageJsonFullPath: join(packageDir, 'package.json'),
    });
    const result = Extractor.invoke(config, {
      localBuild: !check,
      showVerboseMessages: false,
      messageCallback: (m) => {
        if (m.logLevel !== 'warning') return;
        m.handled = true;
        if (warnings) console.warn(`${entry.name}: ${m.formatMessageWithLocation(packageDir)}`);
      },
    });
    if (check && result.apiReportChanged) {
      console.error(`docs/api/${entry.name}.api.md is out of date: run \`npm run api\` and commit the result.`);
      printDiff(join(reportFolder, `${entry.name}.api.md`), join(temp, `${entry.name}.api.md`));
      failed = true;
    } else if (result.errorCount > 0) {
      console.error(`API Extractor failed for ${entry.name} (${result.errorCount} errors).`);
      failed = true;
    } else if (!check) console.log(`docs/api/${entry.name}.api.md ${result.apiReportChanged ? 'updated' : 'unchanged'}`);
  }
} finally {
  rmSync(temp, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

/** The first lines that differ between the checked-in report and the one just made. */
function printDiff(oldFile, newFile) {
  const a = existsSync(oldFile) ? readFileSync(oldFile, 'utf8').split('\n') : [];
  const b = existsSync(newFile) ? readFileSync(newFile, 'utf8').split('\n') : [];
  let shown = 0;
  for (let i = 0; i < Math.max(a.length, b.length) && shown < 20; i++) {
    if (a[i] === b[i]) continue;
    console.error(`  line ${i + 1}\n    - ${a[i] ?? '(end)'}\n    + ${b[i] ?? '(end)'}`);
    shown++;
  }
}
