/**
 * The etcd backend of a cluster (`spindle/etcd`): cluster-wide names, membership and claims
 * kept in etcd under this node's lease.
 *
 * ```ts
 * import { Cluster } from 'spindle';
 * import { etcd } from 'spindle/etcd';
 * await Cluster.start({ nodeName: 'a', backend: etcd({ endpoints: ['http://127.0.0.1:2379'] }) });
 * ```
 *
 * It needs the optional dependency `etcd3` (`npm install etcd3@1.1.2`); only this entry loads
 * it, and only when the cluster starts. A name is released when its process exits, when it
 * is unregistered, or when its node's lease is lost (the node died, or was cut off from etcd
 * for longer than `leaseTtlMs`). Names released by a lost lease are not registered again when
 * the node reaches etcd once more: their processes may have been replaced meanwhile.
 */
import { type EtcdBackendOptions, EtcdBackend } from './cluster/etcd-backend.js';

export type { ClaimResult, EtcdBackendOptions } from './cluster/etcd-backend.js';
export type { BackendContext, ClusterBackend, GlobalNameEvent } from './cluster/backend.js';
export { EtcdBackend };

/** A cluster backend that keeps names in etcd (see the module comment). Options are checked here. */
export function etcd(options: EtcdBackendOptions): EtcdBackend {
  return new EtcdBackend(options);
}
