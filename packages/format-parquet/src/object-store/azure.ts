/**
 * Azure Blob Storage through the official `@azure/storage-blob`, loaded on first use so only users of
 * `az://` install it. DuckDB's azure extension reads and writes the segments; this class does the
 * conditional create (`If-None-Match: *`), list, delete and the small log objects.
 */
import { LTMError } from '@ltm/core';
import type { ObjectInfo, ObjectStore } from './types.js';

type AzureSdk = typeof import('@azure/storage-blob');
type ContainerClient = import('@azure/storage-blob').ContainerClient;

export interface AzureObjectStoreOptions {
  /** A storage connection string (also what DuckDB's azure secret takes). */
  connectionString?: string;
  /** Or an account name and key (shared key), with an optional endpoint (default `https://<account>.blob.core.windows.net`). */
  accountName?: string;
  accountKey?: string;
  endpoint?: string;
}

export interface ContainerLocation {
  container: string;
  /** Blob name prefix of the store, ending in `/`. */
  prefix: string;
}

let sdkPromise: Promise<AzureSdk> | undefined;

async function loadSdk(): Promise<AzureSdk> {
  sdkPromise ??= import('@azure/storage-blob').catch((error: unknown) => {
    sdkPromise = undefined;
    throw new LTMError('dependency_missing', 'the Parquet format needs @azure/storage-blob for az:// stores: npm install @azure/storage-blob', { cause: error });
  });
  return sdkPromise;
}

const DELETE_CONCURRENCY = 16;

export class AzureObjectStore implements ObjectStore {
  readonly location: string;
  readonly duckdbWrites = true;

  private constructor(
    private readonly container: ContainerClient,
    private readonly where: ContainerLocation,
  ) {
    this.location = `az://${where.container}/${where.prefix}`;
  }

  static async open(where: ContainerLocation, options: AzureObjectStoreOptions = {}): Promise<AzureObjectStore> {
    const sdk = await loadSdk();
    let service: import('@azure/storage-blob').BlobServiceClient;
    if (options.connectionString !== undefined) {
      service = sdk.BlobServiceClient.fromConnectionString(options.connectionString);
    } else if (options.accountName !== undefined && options.accountKey !== undefined) {
      const endpoint = options.endpoint ?? `https://${options.accountName}.blob.core.windows.net`;
      service = new sdk.BlobServiceClient(endpoint, new sdk.StorageSharedKeyCredential(options.accountName, options.accountKey));
    } else {
      throw new LTMError('validation_error', 'an az:// Parquet store needs azure.connectionString, or azure.accountName and azure.accountKey');
    }
    return new AzureObjectStore(service.getContainerClient(where.container), where);
  }

  url(key: string): string {
    return `az://${this.where.container}/${this.where.prefix}${key}`;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await this.blob(key).downloadToBuffer();
    } catch (error) {
      if (status(error) === 404) return undefined;
      throw this.error(`read ${key}`, error);
    }
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<boolean> {
    try {
      await this.blob(key).upload(body, body.byteLength, { conditions: { ifNoneMatch: '*' } });
      return true;
    } catch (error) {
      // 409 BlobAlreadyExists, or 412 when the condition fails against a blob created meanwhile.
      if (status(error) === 409 || status(error) === 412) return false;
      throw this.error(`create ${key}`, error);
    }
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    try {
      await this.blob(key).upload(body, body.byteLength);
    } catch (error) {
      throw this.error(`write ${key}`, error);
    }
  }

  async uploadFile(key: string, localPath: string): Promise<void> {
    try {
      await this.blob(key).uploadFile(localPath);
    } catch (error) {
      throw this.error(`write ${key}`, error);
    }
  }

  async list(prefix: string, startAfter?: string): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    try {
      for await (const blob of this.container.listBlobsFlat({ prefix: this.where.prefix + prefix })) {
        const key = blob.name.slice(this.where.prefix.length);
        if (startAfter !== undefined && key <= startAfter) continue;
        found.push({ key, size: blob.properties.contentLength ?? 0, lastModified: blob.properties.lastModified.getTime() });
      }
    } catch (error) {
      throw this.error(`list ${prefix}`, error);
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(keys: readonly string[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        try {
          await this.blob(key).deleteIfExists();
        } catch (error) {
          throw this.error(`delete ${key}`, error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, keys.length) }, worker));
  }

  async preparePrefix(): Promise<void> {}

  async syncFile(): Promise<void> {}

  async close(): Promise<void> {}

  private blob(key: string) {
    return this.container.getBlockBlobClient(this.where.prefix + key);
  }

  private error(doing: string, error: unknown): LTMError {
    const code = status(error);
    const message = `cannot ${doing} in ${this.location}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
    if (code === 401 || code === 403) return new LTMError('auth_failed', `${message} (check the credentials)`, { cause: error });
    if (code === 429 || code === 503) return new LTMError('rate_limited', message, { cause: error });
    if (code === 404) return new LTMError('validation_error', `${message} (create the container first)`, { cause: error });
    return new LTMError('connection_error', message, { cause: error, retryable: code === undefined || code >= 500 });
  }
}

function status(error: unknown): number | undefined {
  return (error as { statusCode?: number } | null)?.statusCode;
}
