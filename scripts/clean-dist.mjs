// Removes dist/ before a build, so a packed tarball never carries files of deleted sources.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
