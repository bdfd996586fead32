// DNS messages (RFC 1035 §4): the query a stub resolver sends and the parts of a response it reads. Pure functions
// over bytes: no I/O, clock or state. A response is untrusted input, so every read is bounds-checked, compression
// pointers may only point backwards (no loops), names stay within 255 octets, and anything malformed is a
// DnsFormatError — never another exception and never a hang.
import { formatIpv4Address } from '../wire/index.js';

export const DNS_PORT = 53;
export const DNS_HEADER_BYTES = 12;
/** Largest DNS message: a UDP payload, or the 16-bit length prefix over TCP (RFC 1035 §4.2.2). */
export const DNS_MAX_MESSAGE_BYTES = 65535;
/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire, a label at most 63. */
export const DNS_MAX_NAME_BYTES = 255;
export const DNS_MAX_LABEL_BYTES = 63;

export const DnsType = { A: 1, NS: 2, CNAME: 5, SOA: 6, AAAA: 28 } as const;
export const DNS_CLASS_IN = 1;

/** RFC 1035 §4.1.1 RCODE values. */
export const DnsRcode = { NoError: 0, FormErr: 1, ServFail: 2, NxDomain: 3, NotImp: 4, Refused: 5 } as const;

/** A response that breaks RFC 1035 (truncated record, pointer loop, overlong name, ...): node:dns's EBADRESP. */
export class DnsFormatError extends Error {
  readonly code = 'EBADRESP';
  constructor(message: string) {
    super(message);
    this.name = 'DnsFormatError';
  }
}

/** A name we cannot ask for (empty label, label over 63 octets, name over 255, not ASCII): node:dns's EBADNAME. */
export class DnsNameError extends TypeError {
  readonly code = 'EBADNAME';
  constructor(name: string, why: string) {
    super(`bad DNS name ${JSON.stringify(name)}: ${why}`);
    this.name = 'DnsNameError';
  }
}

export interface DnsHeader {
  readonly id: number;
  readonly isResponse: boolean;
  readonly opcode: number;
  readonly authoritative: boolean;
  readonly truncated: boolean;
  readonly recursionDesired: boolean;
  readonly recursionAvailable: boolean;
  readonly rcode: number;
  readonly questionCount: number;
  readonly answerCount: number;
  readonly authorityCount: number;
  readonly additionalCount: number;
}

export interface DnsQuestion {
  /** Presentation form without the final dot; bytes other than letters, digits, '-' and '_' are escaped (\DDD). */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface DnsRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  /** Seconds; RFC 2181 §8: a value with the top bit set counts as 0. */
  readonly ttl: number;
  /** A: the dotted quad; CNAME: the target name; other types: null (not needed by a stub asking for A). */
  readonly data: string | null;
}

export interface DnsMessage {
  readonly header: DnsHeader;
  readonly questions: readonly DnsQuestion[];
  /**
   * The answer section. Empty when the message is truncated (TC): RFC 2181 §9 says to retry over TCP rather than
   * use a partial answer, and a truncated section may end mid-record.
   */
  readonly answers: readonly DnsRecord[];
}

function u16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** The wire form of `name` (RFC 1035 §3.1): length-prefixed labels ending in the root's zero octet. */
export function encodeDnsName(name: string): Uint8Array {
  const trimmed = name.endsWith('.') && name !== '.' ? name.slice(0, -1) : name;
  if (trimmed === '' || trimmed === '.') throw new DnsNameError(name, 'empty name');
  const labels = trimmed.split('.');
  const out = new Uint8Array(trimmed.length + 2);
  let at = 0;
  for (const label of labels) {
    if (label.length === 0) throw new DnsNameError(name, 'empty label');
    if (label.length > DNS_MAX_LABEL_BYTES) throw new DnsNameError(name, `label of ${label.length} octets (at most ${DNS_MAX_LABEL_BYTES})`);
    out[at++] = label.length;
    for (let i = 0; i < label.length; i++) {
      const c = label.charCodeAt(i);
      // Printable ASCII only: IDNs arrive here already in punycode (resolveHost converts them).
      if (c <= 0x20 || c >= 0x7f) throw new DnsNameError(name, `character ${JSON.stringify(label[i])} (IDNs must be punycode)`);
      out[at++] = c;
    }
  }
  out[at++] = 0;
  if (at > DNS_MAX_NAME_BYTES) throw new DnsNameError(name, `${at} octets on the wire (at most ${DNS_MAX_NAME_BYTES})`);
  return out;
}

/** A standard query (opcode 0) for one question, recursion desired (we are a stub resolver, RFC 1123 §6.1.3.1). */
export function encodeDnsQuery(id: number, name: string, type: number = DnsType.A, dnsClass: number = DNS_CLASS_IN): Uint8Array {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new RangeError(`DNS id must be 0..65535, got ${String(id)}`);
  const qname = encodeDnsName(name);
  const b = new Uint8Array(DNS_HEADER_BYTES + qname.length + 4);
  b[0] = id >> 8;
  b[1] = id & 0xff;
  b[2] = 0x01; // RD
  b[5] = 1; // QDCOUNT
  b.set(qname, DNS_HEADER_BYTES);
  const q = DNS_HEADER_BYTES + qname.length;
  b[q] = type >> 8;
  b[q + 1] = type & 0xff;
  b[q + 2] = dnsClass >> 8;
  b[q + 3] = dnsClass & 0xff;
  return b;
}

/** The 12-byte header (RFC 1035 §4.1.1); throws DnsFormatError when there are fewer bytes. */
export function parseDnsHeader(b: Uint8Array): DnsHeader {
  if (b.length < DNS_HEADER_BYTES) throw new DnsFormatError(`${b.length} bytes: shorter than a DNS header`);
  const flags = u16(b, 2);
  return {
    id: u16(b, 0),
    isResponse: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    recursionDesired: (flags & 0x0100) !== 0,
    recursionAvailable: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    questionCount: u16(b, 4),
    answerCount: u16(b, 6),
    authorityCount: u16(b, 8),
    additionalCount: u16(b, 10),
  };
}

function isPlainNameByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f;
}

/**
 * Reads a possibly compressed name at `off` (RFC 1035 §4.1.4). Returns the name and the offset after it in the
 * record (after the first pointer, if any). A pointer must point before the label sequence it ends, so every jump
 * goes strictly backwards and the walk ends; bytes that are not plain are escaped so a label holding a '.' never
 * reads as two labels.
 */
export function readDnsName(b: Uint8Array, off: number): { name: string; next: number } {
  let at = off;
  let next = -1;
  let wireBytes = 1; // the root's zero octet
  let limit = off; // a pointer must land before this
  const parts: string[] = [];
  for (;;) {
    if (at >= b.length) throw new DnsFormatError(`name at ${off} runs past the end of the message`);
    const len = b[at];
    if ((len & 0xc0) === 0xc0) {
      if (at + 1 >= b.length) throw new DnsFormatError(`name at ${off}: pointer cut off`);
      const target = ((len & 0x3f) << 8) | b[at + 1];
      if (target >= limit) throw new DnsFormatError(`name at ${off}: compression pointer to ${target} does not point backwards`);
      if (next < 0) next = at + 2;
      limit = target;
      at = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsFormatError(`name at ${off}: reserved label type 0x${len.toString(16)}`);
    if (len === 0) {
      if (next < 0) next = at + 1;
      break;
    }
    if (at + 1 + len > b.length) throw new DnsFormatError(`name at ${off}: label runs past the end of the message`);
    wireBytes += 1 + len;
    if (wireBytes > DNS_MAX_NAME_BYTES) throw new DnsFormatError(`name at ${off} is longer than ${DNS_MAX_NAME_BYTES} octets`);
    let label = '';
    for (let i = at + 1; i <= at + len; i++) {
      const c = b[i];
      label += isPlainNameByte(c) ? String.fromCharCode(c) : `\\${String(c).padStart(3, '0')}`;
    }
    parts.push(label);
    at += 1 + len;
  }
  return { name: parts.join('.'), next };
}

/** Names compare without regard to ASCII case (RFC 4343); escapes are of non-letters, so lower-casing is safe. */
export function sameDnsName(a: string, b: string): boolean {
  return canonicalDnsName(a) === canonicalDnsName(b);
}

/** Lower case, no final dot: the form names are compared and cached in. */
export function canonicalDnsName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') && lower.length > 1 ? lower.slice(0, -1) : lower;
}

function readQuestion(b: Uint8Array, off: number): { question: DnsQuestion; next: number } {
  const { name, next } = readDnsName(b, off);
  if (next + 4 > b.length) throw new DnsFormatError(`question at ${off} is cut off`);
  return { question: { name, type: u16(b, next), class: u16(b, next + 2) }, next: next + 4 };
}

function readRecord(b: Uint8Array, off: number): { record: DnsRecord; next: number } {
  const { name, next: fixed } = readDnsName(b, off);
  if (fixed + 10 > b.length) throw new DnsFormatError(`record at ${off} is cut off`);
  const type = u16(b, fixed);
  const dnsClass = u16(b, fixed + 2);
  const rawTtl = ((b[fixed + 4] << 24) | (b[fixed + 5] << 16) | (b[fixed + 6] << 8) | b[fixed + 7]) >>> 0;
  const rdLength = u16(b, fixed + 8);
  const rdata = fixed + 10;
  const end = rdata + rdLength;
  if (end > b.length) throw new DnsFormatError(`record ${name} claims ${rdLength} bytes of data past the end of the message`);
  let data: string | null = null;
  if (dnsClass === DNS_CLASS_IN && type === DnsType.A) {
    if (rdLength !== 4) throw new DnsFormatError(`A record ${name} has ${rdLength} bytes of data, not 4`);
    data = formatIpv4Address(((b[rdata] << 24) | (b[rdata + 1] << 16) | (b[rdata + 2] << 8) | b[rdata + 3]) >>> 0);
  } else if (type === DnsType.CNAME) {
    const target = readDnsName(b, rdata);
    if (target.next !== end) throw new DnsFormatError(`CNAME record ${name}: the name does not fill its ${rdLength} bytes of data`);
    data = target.name;
  }
  return { record: { name, type, class: dnsClass, ttl: rawTtl > 0x7fffffff ? 0 : rawTtl, data }, next: end };
}

/**
 * Parses a response: header, question section, and (unless truncated) the answer section. The authority and
 * additional sections are not read: a stub asking for A records needs neither. Throws DnsFormatError.
 */
export function parseDnsMessage(b: Uint8Array): DnsMessage {
  if (b.length > DNS_MAX_MESSAGE_BYTES) throw new DnsFormatError(`${b.length} bytes: longer than any DNS message`);
  const header = parseDnsHeader(b);
  let at = DNS_HEADER_BYTES;
  // Each question takes at least 5 bytes and each record 11, so the counts cannot make us loop past the bytes.
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < header.questionCount; i++) {
    const q = readQuestion(b, at);
    questions.push(q.question);
    at = q.next;
  }
  const answers: DnsRecord[] = [];
  if (!header.truncated) {
    for (let i = 0; i < header.answerCount; i++) {
      const r = readRecord(b, at);
      answers.push(r.record);
      at = r.next;
    }
  }
  return { header, questions, answers };
}

/**
 * Whether `message` answers our query: a response (QR) to a standard query with our ID and exactly our question
 * (RFC 5452 §9.1: ID, question name, type and class must all match; the name without regard to case).
 */
export function answersQuery(message: DnsMessage, id: number, question: DnsQuestion): boolean {
  const h = message.header;
  if (!h.isResponse || h.opcode !== 0 || h.id !== id || message.questions.length !== 1) return false;
  const q = message.questions[0];
  return q.type === question.type && q.class === question.class && sameDnsName(q.name, question.name);
}

/** How many CNAMEs a chain may have before we call it a loop (glibc and musl stop around here too). */
export const MAX_CNAME_CHAIN = 8;

export interface DnsAnswer {
  /** The A records of the end of the chain, in the server's order, duplicates removed. */
  readonly addresses: readonly string[];
  /** The name the chain ends at (the query name when there was no CNAME). */
  readonly canonicalName: string;
  /** The smallest TTL along the chain: the answer is only as fresh as its shortest-lived link. */
  readonly ttl: number;
}

/**
 * The A records that answer `name` in the answer section, following CNAMEs from `name` (RFC 1034 §3.6.2, §5.3.3).
 * Records for other owner names are ignored (a server may not slip in addresses for names we did not ask for).
 * A chain longer than MAX_CNAME_CHAIN, or one that comes back to a name it passed, is a DnsFormatError.
 */
export function extractAddresses(message: DnsMessage, name: string): DnsAnswer {
  let current = canonicalDnsName(name);
  const seen = new Set([current]);
  let ttl = Infinity;
  for (;;) {
    const addresses: string[] = [];
    let cname: DnsRecord | undefined;
    for (const r of message.answers) {
      if (r.class !== DNS_CLASS_IN || canonicalDnsName(r.name) !== current) continue;
      if (r.type === DnsType.A && r.data !== null) {
        if (!addresses.includes(r.data)) addresses.push(r.data);
        ttl = Math.min(ttl, r.ttl);
      } else if (r.type === DnsType.CNAME && r.data !== null && cname === undefined) {
        cname = r;
      }
    }
    if (addresses.length > 0 || cname === undefined) {
      // RFC 1034 §3.6.2: a name with a CNAME has no other data; if a server sends both, the addresses win.
      return { addresses, canonicalName: current, ttl: ttl === Infinity ? 0 : ttl };
    }
    ttl = Math.min(ttl, cname.ttl);
    current = canonicalDnsName(cname.data as string);
    if (seen.has(current)) throw new DnsFormatError(`CNAME loop at ${current}`);
    seen.add(current);
    if (seen.size > MAX_CNAME_CHAIN + 1) throw new DnsFormatError(`CNAME chain from ${name} longer than ${MAX_CNAME_CHAIN}`);
  }
}
