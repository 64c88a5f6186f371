/**
 * Node identity. A node is `name@host:port`; a running incarnation adds its random creation
 * as `~<base36>` (`name@host:port~1k9zq3`), which every ref of that node carries, so a ref to
 * an earlier incarnation never reaches the processes of a restarted node (Erlang's creation).
 * User APIs take the short form; the wire and refs use the long one.
 */
import { InvalidArgumentError } from '../errors.js';

/** A parsed node id. */
export interface NodeId {
  /** The node's name: letters, digits, `_`, `-` and `.`, at most 64 characters. */
  readonly name: string;
  /** An IPv4 address, a bracketed IPv6 address without brackets, or a host name. */
  readonly host: string;
  /** 1–65535 (0 only before the listener has bound, in options). */
  readonly port: number;
  /** The incarnation, when the id names one. */
  readonly creation?: number;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;
/** Longest id accepted: bounds the work on hostile input. */
const MAX_ID = 400;

/** Why `v` is not a node id, or undefined when it is one (`allowPortZero` for options). */
function problem(v: unknown, allowPortZero: boolean): string | NodeId {
  if (typeof v !== 'string') return `expected a string 'name@host:port', got ${v === null ? 'null' : typeof v}`;
  if (v.length === 0 || v.length > MAX_ID) return `expected 1 to ${MAX_ID} characters, got ${v.length}`;
  const at = v.indexOf('@');
  if (at <= 0) return `expected 'name@host:port', got ${JSON.stringify(v.slice(0, 80))}`;
  const name = v.slice(0, at);
  if (!NAME.test(name)) return `node name ${JSON.stringify(name.slice(0, 80))} must be 1-64 letters, digits, '_', '-' or '.'`;
  let rest = v.slice(at + 1);
  let creation: number | undefined;
  const tilde = rest.lastIndexOf('~');
  if (tilde >= 0) {
    const c = rest.slice(tilde + 1);
    if (!/^[0-9a-z]{1,7}$/.test(c)) return `creation ${JSON.stringify(c.slice(0, 20))} must be base36`;
    creation = Number.parseInt(c, 36);
    if (creation > 0xffffffff) return 'creation must fit in 32 bits';
    rest = rest.slice(0, tilde);
  }
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') return `expected '[ipv6]:port', got ${JSON.stringify(rest.slice(0, 80))}`;
    host = rest.slice(1, close);
    portText = rest.slice(close + 2);
    if (!IPV6.test(host) || !host.includes(':')) return `${JSON.stringify(host)} is not an IPv6 address`;
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon <= 0) return `expected 'host:port' after '@', got ${JSON.stringify(rest.slice(0, 80))}`;
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    // All digits and dots: it must be an IPv4 address, not a host name of numeric labels.
    const numeric = /^[\d.]+$/.test(host);
    if (numeric ? !IPV4.test(host) : !HOSTNAME.test(host))
      return `${JSON.stringify(host.slice(0, 80))} is not an IPv4 address or host name`;
  }
  if (!/^\d{1,5}$/.test(portText)) return `port ${JSON.stringify(portText.slice(0, 20))} must be a number`;
  const port = Number(portText);
  if (port > 65535 || (port === 0 && !allowPortZero)) return `port ${port} must be 1-65535`;
  return creation === undefined ? { name, host, port } : { name, host, port, creation };
}

/** Parses a node id (short or with creation); throws InvalidArgumentError naming `argument`. */
export function parseNodeId(v: unknown, argument = 'node'): NodeId {
  const r = problem(v, false);
  if (typeof r === 'string') throw new InvalidArgumentError(argument, r);
  return r;
}

/** The parsed id, or undefined (for hostile input from the wire: never throws). */
export function tryParseNodeId(v: unknown): NodeId | undefined {
  const r = problem(v, false);
  return typeof r === 'string' ? undefined : r;
}

/** `name@host:port`, with `~creation` when the id has one; IPv6 hosts are bracketed. */
export function formatNodeId(id: NodeId, withCreation = true): string {
  const host = id.host.includes(':') ? `[${id.host}]` : id.host;
  const base = `${id.name}@${host}:${id.port}`;
  return withCreation && id.creation !== undefined ? `${base}~${id.creation.toString(36)}` : base;
}

/** True when both ids name the same node address (the incarnation aside). */
export function sameNode(a: NodeId, b: NodeId): boolean {
  return a.name === b.name && a.host === b.host && a.port === b.port;
}

/** A fresh random 32-bit incarnation number (never 0). */
export function newCreation(random: () => number = Math.random): number {
  return 1 + Math.floor(random() * 0xfffffffe);
}

/** The short form `name@host:port` of a node id (its `~creation` cut); any other string is returned as is. */
export function shortNodeId(id: string): string {
  const tilde = id.lastIndexOf('~');
  return tilde < 0 ? id : id.slice(0, tilde);
}
