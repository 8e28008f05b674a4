/**
 * Worker thread of `loadIndexSnapshot`: reads a vector index snapshot's sections, from
 * the descriptor the store opened, into the shared memory it is given; answers whether it could.
 */
import { parentPort, workerData } from "node:worker_threads";
import { readSnapshotSections, type SnapshotReadRequest } from "./vector-index-snapshot.ts";

const { fd, sections } = workerData as SnapshotReadRequest;
let ok = false;
try {
  ok = readSnapshotSections(fd, sections);
} catch {
  ok = false;
}
parentPort?.postMessage(ok);
