/**
 * What the memory routes answer, from the schemas the servers publish (type-only imports: the
 * bundle carries none of zod or shared's code, only SOURCE_TYPES' eight strings).
 */
import type {
  HistoryResponse,
  ListResponse,
  MemoryJson,
  RecallResponse,
} from "@tribalmemory/shared/http/response-schemas";
import type { z } from "zod";

export type Memory = z.output<typeof MemoryJson>;
export type RecallAnswer = z.output<typeof RecallResponse>;
export type ListAnswer = z.output<typeof ListResponse>;
export type HistoryAnswer = z.output<typeof HistoryResponse>;
export type HistoryEntry = HistoryAnswer["history"][number];
export { SOURCE_TYPES } from "@tribalmemory/shared/memory/types";
