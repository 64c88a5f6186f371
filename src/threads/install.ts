/** Plugs the threads layer into the core (once, at import): supervisors can start `thread:` children. */
import { layers } from '../core/runtime.js';
import type { ChildSpec } from '../behaviours/supervisor/spec.js';
import { startThreadChild } from './thread-host.js';

layers.threadStarter = (_rt, spec, parent) => startThreadChild(spec as ChildSpec, parent);
