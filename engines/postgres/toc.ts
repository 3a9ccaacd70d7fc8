import { closeSync, openSync, readSync } from 'node:fs';

/**
 * The table of contents of a `pg_dump -Fc` archive, read from the archive itself, and the selective restore
 * built on it. `pg_restore -l` prints the same entries, but with names unquoted and space-separated, so a name
 * with a space cannot be told apart from the next field; the binary TOC has every field exactly, including
 * each entry's dependency list (what `pg_restore -l --verbose` prints as "; depends on:").
 *
 * Layout (src/bin/pg_dump/pg_backup_archiver.c, ReadHead and ReadToc; custom format, versions 1.12 to 1.16 as
 * written by pg_dump 10 to 17): "PGDMP", version bytes, int and offset sizes, format, compression, creation
 * time, names and versions, then per entry: dumpId, hadDumper, tableoid, oid, tag, desc, section, defn,
 * dropStmt, copyStmt, namespace, tablespace, tableam (1.14+), relkind (1.16+), owner, "false" (WITH OIDS),
 * the dependency dumpIds, and the data offset. Ints are a sign byte then `intSize` little-endian bytes;
 * strings are an int length (-1 for NULL) then the bytes.
 */
export interface TocEntry {
  readonly dumpId: number;
  /** `TABLE`, `TABLE DATA`, `FK CONSTRAINT`, `ACL`, ... (pg_dump's desc). */
  readonly desc: string;
  /** The object's schema, empty for objects outside one (schemas, extensions, ACLs of schemas). */
  readonly namespace: string;
  /** The object's name as pg_dump tags it: `film`, `film film_pkey` (constraints), `TABLE film` (ACL, COMMENT). */
  readonly tag: string;
  readonly owner: string;
  /** dumpIds this entry needs restored first; ids of objects that were not dumped can appear and mean nothing. */
  readonly dependencies: readonly number[];
}

export interface ArchiveToc {
  /** Archive format version, such as "1.14". */
  readonly version: string;
  readonly entries: readonly TocEntry[];
}

/** The archive is not a custom-format dump this reader understands; the message says what was found. */
export class ArchiveFormatError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'ArchiveFormatError';
  }
}

const OLDEST = [1, 12];
const NEWEST = [1, 16];
const CUSTOM_FORMAT = 1;

class ArchiveReader {
  private readonly buffer = Buffer.alloc(1024 * 1024);
  private start = 0;
  private end = 0;
  private position = 0;
  public intSize = 4;
  public offSize = 8;

  public constructor(private readonly fd: number) {}

  private fill(needed: number): void {
    if (this.end - this.start >= needed) {
      return;
    }
    this.buffer.copy(this.buffer, 0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
    while (this.end < needed) {
      const read = readSync(this.fd, this.buffer, this.end, this.buffer.length - this.end, this.position);
      if (read === 0) {
        throw new ArchiveFormatError('the archive ends inside its table of contents (truncated or not a pg_dump -Fc file)');
      }
      this.position += read;
      this.end += read;
    }
  }

  public bytes(length: number): Buffer {
    if (length > this.buffer.length) {
      // A definition longer than the buffer (a huge function body): read it on its own.
      const out = Buffer.alloc(length);
      let copied = 0;
      while (copied < length) {
        const chunk = Math.min(this.buffer.length, length - copied);
        this.fill(chunk);
        this.buffer.copy(out, copied, this.start, this.start + chunk);
        this.start += chunk;
        copied += chunk;
      }
      return out;
    }
    this.fill(length);
    const out = this.buffer.subarray(this.start, this.start + length);
    this.start += length;
    return out;
  }

  public byte(): number {
    return this.bytes(1)[0];
  }

  public int(): number {
    const negative = this.byte() !== 0;
    const raw = this.bytes(this.intSize);
    let value = 0;
    for (let i = raw.length - 1; i >= 0; i--) {
      value = value * 256 + raw[i];
    }
    return negative ? -value : value;
  }

  public string(): string | undefined {
    const length = this.int();
    if (length < 0) {
      return undefined;
    }
    return this.bytes(length).toString('utf8');
  }

  public skipString(): void {
    const length = this.int();
    if (length > 0) {
      this.skip(length);
    }
  }

  public skip(length: number): void {
    let left = length;
    while (left > 0) {
      const chunk = Math.min(this.buffer.length, left);
      this.fill(chunk);
      this.start += chunk;
      left -= chunk;
    }
  }
}

/** Reads the TOC of the custom-format archive at `path` (only the head of the file: the TOC precedes the data). */
export function readArchiveToc(path: string): ArchiveToc {
  const fd = openSync(path, 'r');
  try {
    const reader = new ArchiveReader(fd);
    if (reader.bytes(5).toString('latin1') !== 'PGDMP') {
      throw new ArchiveFormatError('not a pg_dump custom-format archive (no PGDMP magic at the start)');
    }
    const major = reader.byte();
    const minor = reader.byte();
    reader.byte(); // revision
    const version = `${major}.${minor}`;
    if (major !== 1 || minor < OLDEST[1] || minor > NEWEST[1]) {
      throw new ArchiveFormatError(
        `archive format ${version} is outside the versions this reader knows (${OLDEST.join('.')} to ${NEWEST.join('.')}, pg_dump 10 to 17)`,
      );
    }
    reader.intSize = reader.byte();
    reader.offSize = reader.byte();
    if (reader.byte() !== CUSTOM_FORMAT) {
      throw new ArchiveFormatError('the archive is not in pg_dump custom format (-Fc)');
    }
    if (minor >= 15) {
      reader.byte(); // compression algorithm
    } else {
      reader.int(); // compression level
    }
    for (let i = 0; i < 7; i++) {
      reader.int(); // creation time
    }
    reader.skipString(); // database name
    reader.skipString(); // server version
    reader.skipString(); // pg_dump version
    const count = reader.int();
    const entries: TocEntry[] = [];
    for (let i = 0; i < count; i++) {
      const dumpId = reader.int();
      reader.int(); // hadDumper
      reader.skipString(); // tableoid
      reader.skipString(); // oid
      const tag = reader.string() ?? '';
      const desc = reader.string() ?? '';
      reader.int(); // section
      reader.skipString(); // defn
      reader.skipString(); // dropStmt
      reader.skipString(); // copyStmt
      const namespace = reader.string() ?? '';
      reader.skipString(); // tablespace
      if (minor >= 14) {
        reader.skipString(); // tableam
      }
      if (minor >= 16) {
        reader.int(); // relkind
      }
      const owner = reader.string() ?? '';
      reader.skipString(); // WITH OIDS, always "false"
      const dependencies: number[] = [];
      for (let dep = reader.string(); dep !== undefined; dep = reader.string()) {
        dependencies.push(Number(dep));
      }
      reader.byte(); // data offset flag
      reader.skip(reader.offSize);
      entries.push({ dumpId, desc, namespace, tag, owner, dependencies });
    }
    return { version, entries };
  } finally {
    closeSync(fd);
  }
}

// ---- Selective restore ---------------------------------------------------------------------------------

/** Objects that hold rows or are queried like tables: never brought along as a side effect of a selection. */
const RELATIONS = new Set(['TABLE', 'VIEW', 'MATERIALIZED VIEW', 'FOREIGN TABLE']);

/**
 * Entries that are a part of another object and exist only with it (a table's data, constraints, indexes,
 * triggers, policies, owned sequences, comments and grants). A selected object brings the parts that depend on
 * it, provided everything else the part depends on can come too.
 */
const PARTS = new Set([
  'TABLE DATA',
  'COMMENT',
  'ACL',
  'SECURITY LABEL',
  'SEQUENCE',
  'SEQUENCE OWNED BY',
  'SEQUENCE SET',
  'DEFAULT',
  'CONSTRAINT',
  'CHECK CONSTRAINT',
  'FK CONSTRAINT',
  'INDEX',
  'INDEX ATTACH',
  'TRIGGER',
  'ROW SECURITY',
  'POLICY',
  'RULE',
  'STATISTICS',
  'TABLE ATTACH',
  'MATERIALIZED VIEW DATA',
]);

/** Parts of a supporting object (a type, function, schema, shared sequence) that come with it. */
const ATTACHMENTS = new Set(['COMMENT', 'ACL', 'SECURITY LABEL', 'SEQUENCE SET', 'CHECK CONSTRAINT']);

/** Always processed by pg_restore; listed so the list file reads like `pg_restore -l`. */
const SPECIAL = new Set(['ENCODING', 'STDSTRINGS', 'SEARCHPATH']);

/** An include name that is neither a schema nor a table of the archive. */
export class SelectionError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'SelectionError';
  }
}

export interface Selection {
  /** The entries to restore, in archive order (pg_dump's dependency order). */
  readonly entries: readonly TocEntry[];
  /** Parts of selected objects that cannot come because they need a table outside the selection (such as a foreign key into it). */
  readonly leftOut: readonly TocEntry[];
}

/**
 * What a restore of `include` (schemas and `schema.table` names) needs, from the archive's dependency lists:
 *   - members: each named table (a partitioned table with its partitions), or everything in a named schema;
 *   - their parts (see PARTS) whose every dependency can be restored too;
 *   - the supporting objects members and parts depend on (schemas, types, domains, functions, sequences,
 *     extensions, a partition's parent table definition), each with its comments and grants.
 * A part that depends on a table outside the selection (a foreign key into it, a policy whose query reads it)
 * is left out and reported; a named view whose tables are not selected is refused. Nothing is chosen by name
 * beyond the include list itself.
 */
export function selectEntries(toc: ArchiveToc, include: readonly string[]): Selection {
  const byId = new Map(toc.entries.map((entry) => [entry.dumpId, entry]));
  const dependents = new Map<number, TocEntry[]>();
  for (const entry of toc.entries) {
    for (const dep of entry.dependencies) {
      const list = dependents.get(dep) ?? [];
      list.push(entry);
      dependents.set(dep, list);
    }
  }
  const members = new Set<number>();
  const kept = new Set<number>();
  const named: TocEntry[] = [];

  for (const name of include) {
    const dot = name.indexOf('.');
    if (dot < 0) {
      const inSchema = toc.entries.filter((e) => (e.namespace === name && !SPECIAL.has(e.desc)) || (e.desc === 'SCHEMA' && e.tag === name));
      if (inSchema.length === 0) {
        throw new SelectionError(
          `include: "${name}" is not a schema of this backup; expected a schema or "schema.table" name the backup has`,
        );
      }
      for (const entry of inSchema) {
        members.add(entry.dumpId);
      }
      continue;
    }
    const [schema, table] = [name.slice(0, dot), name.slice(dot + 1)];
    const relation = toc.entries.find((e) => RELATIONS.has(e.desc) && e.namespace === schema && e.tag === table);
    if (!relation) {
      throw new SelectionError(`include: "${name}" is not a table of this backup; expected a schema or "schema.table" name the backup has`);
    }
    members.add(relation.dumpId);
    named.push(relation);
  }

  /**
   * Tries to make `entry` restorable: adds what it depends on (tentatively, to `adding`) and returns false when
   * it needs a relation outside the selection. Only a table may pull in another relation, as its definition:
   * a partition or an inheritance child cannot exist without its parent.
   */
  const satisfy = (entry: TocEntry, adding: Set<number>): boolean => {
    for (const dep of entry.dependencies) {
      const needed = byId.get(dep);
      if (!needed || kept.has(dep) || adding.has(dep)) {
        continue;
      }
      if (RELATIONS.has(needed.desc) && entry.desc !== 'TABLE') {
        return false;
      }
      adding.add(dep);
      if (!satisfy(needed, adding)) {
        return false;
      }
    }
    return true;
  };

  const commit = (adding: Set<number>) => {
    for (const id of adding) {
      kept.add(id);
    }
    // Supporting objects come with their comments, grants and sequence values.
    for (const id of adding) {
      for (const attachment of dependents.get(id) ?? []) {
        if (ATTACHMENTS.has(attachment.desc) && !kept.has(attachment.dumpId)) {
          const more = new Set([attachment.dumpId]);
          if (satisfy(attachment, more)) {
            commit(more);
          }
        }
      }
    }
  };

  const refused: TocEntry[] = [];
  for (const id of members) {
    const entry = byId.get(id)!;
    const adding = new Set([id]);
    if (satisfy(entry, adding)) {
      commit(adding);
    } else {
      refused.push(entry);
    }
  }
  const refusedNamed = refused.find((entry) => named.includes(entry));
  if (refusedNamed) {
    const outside = relationsOutside(refusedNamed, byId, kept);
    throw new SelectionError(
      `include: "${refusedNamed.namespace}.${refusedNamed.tag}" is a ${refusedNamed.desc.toLowerCase()} that needs ${outside.join(', ')}; include ${outside.length === 1 ? 'it' : 'them'} too`,
    );
  }
  const leftOut = [...refused];

  // Parts of members (and of their parts), to a fixed point; a partitioned table brings its partitions.
  const memberIds = new Set([...members].filter((id) => kept.has(id)));
  let grew = true;
  while (grew) {
    grew = false;
    for (const entry of toc.entries) {
      if (kept.has(entry.dumpId) || !entry.dependencies.some((dep) => memberIds.has(dep))) {
        continue;
      }
      if (entry.desc === 'TABLE ATTACH') {
        for (const dep of entry.dependencies) {
          const partition = byId.get(dep);
          if (partition?.desc === 'TABLE' && !kept.has(dep)) {
            const adding = new Set([dep]);
            if (satisfy(partition, adding)) {
              commit(adding);
              memberIds.add(dep);
              grew = true;
            }
          }
        }
      }
      if (!PARTS.has(entry.desc)) {
        continue;
      }
      const adding = new Set([entry.dumpId]);
      if (satisfy(entry, adding)) {
        commit(adding);
        memberIds.add(entry.dumpId);
        grew = true;
      }
    }
  }
  // A part left out is reported when it belongs to a member: its tag starts with the member table's name.
  const memberTables = toc.entries.filter((e) => memberIds.has(e.dumpId) && e.desc === 'TABLE');
  for (const entry of toc.entries) {
    if (
      !kept.has(entry.dumpId) &&
      PARTS.has(entry.desc) &&
      !leftOut.includes(entry) &&
      entry.dependencies.some((dep) => memberIds.has(dep)) &&
      memberTables.some((table) => table.namespace === entry.namespace && entry.tag.startsWith(`${table.tag} `))
    ) {
      leftOut.push(entry);
    }
  }

  // Schemas without an entry of their own (public) still carry their grants and comment.
  const schemas = new Set(toc.entries.filter((e) => kept.has(e.dumpId) && e.namespace).map((e) => e.namespace));
  for (const entry of toc.entries) {
    if (ATTACHMENTS.has(entry.desc) && !entry.namespace && !kept.has(entry.dumpId)) {
      const schema = /^SCHEMA (?:"((?:[^"]|"")+)"|(.+))$/.exec(entry.tag);
      const name = schema ? (schema[1]?.replace(/""/g, '"') ?? schema[2]) : undefined;
      if (name !== undefined && schemas.has(name)) {
        const adding = new Set([entry.dumpId]);
        if (satisfy(entry, adding)) {
          commit(adding);
        }
      }
    }
  }

  return {
    entries: toc.entries.filter((entry) => kept.has(entry.dumpId) || SPECIAL.has(entry.desc)),
    leftOut: leftOut.filter((entry) => !kept.has(entry.dumpId)),
  };
}

/** The relations outside `kept` that `entry` needs, directly or through what it depends on, as `schema.name`. */
function relationsOutside(entry: TocEntry, byId: ReadonlyMap<number, TocEntry>, kept: ReadonlySet<number>): string[] {
  const found = new Set<string>();
  const seen = new Set<number>();
  const walk = (current: TocEntry) => {
    for (const dep of current.dependencies) {
      const needed = byId.get(dep);
      if (!needed || kept.has(dep) || seen.has(dep)) {
        continue;
      }
      seen.add(dep);
      if (RELATIONS.has(needed.desc)) {
        found.add(`${needed.namespace}.${needed.tag}`);
      } else {
        walk(needed);
      }
    }
  };
  walk(entry);
  return [...found].sort();
}

/** A `pg_restore -L` list: pg_restore reads the dumpId before the semicolon and ignores the rest of the line. */
export function listFile(entries: readonly TocEntry[]): string {
  return `${entries.map((e) => `${e.dumpId}; ${e.desc} ${e.namespace || '-'} ${e.tag.replace(/\s+/g, ' ')} ${e.owner}`).join('\n')}\n`;
}
