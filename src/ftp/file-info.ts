// One directory entry, whatever listing format it came from.

export type FtpFileType = 'file' | 'directory' | 'symlink' | 'unknown';

export interface FtpFileInfo {
  /** The entry's name as the server sent it (a single path component; see listing.ts for what is rejected). */
  readonly name: string;
  readonly type: FtpFileType;
  /** Size in bytes, when the listing gave one. */
  readonly size: number | undefined;
  /** Modification time when the listing gave a complete one (MLSD: UTC; LIST: see rawModified). */
  readonly modifiedAt: Date | undefined;
  /** The modification time exactly as listed. */
  readonly rawModified: string | undefined;
  /** Unix permission string ("rwxr-xr-x") or MLSD `perm` fact, as listed. */
  readonly permissions: string | undefined;
  /** Target of a symbolic link (LIST "name -> target"). */
  readonly linkTarget: string | undefined;
  /** MLSD facts, keys lower-cased. Empty for LIST. */
  readonly facts: Readonly<Record<string, string>>;
}
