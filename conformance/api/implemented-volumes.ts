import type { ApiClient, Fixture, ImplementedOperation } from "./implemented.ts";

/** A named volume for one case, removed afterwards. */
async function volume(api: ApiClient, name: string, labels: Readonly<Record<string, string>> = {}): Promise<Fixture> {
  const r = await api.call("POST", "/volumes/create", { body: { Name: name, Labels: labels } });
  if (r.status !== 201) throw new Error(`volume create answered ${r.status}: ${r.body.toString("utf8")}`);
  return { params: { name }, cleanup: async () => void (await api.call("DELETE", `/volumes/${name}`, { query: { force: "1" } })) };
}

/**
 * The Volume tag (issue 8): the local driver of engine/volumes. VolumeUpdate (swarm only) answers 503, as
 * Docker. The 400/404 refusals of create, list and prune are not listed as negative cases: the spec
 * documents none for them (flows/catalogue/volumes.yaml checks them through the CLI).
 */
export const IMPLEMENTED_VOLUMES: Readonly<Record<string, ImplementedOperation>> = {
  // Cluster volumes only: a Docker Engine that is not a swarm manager answers every update with 503
  // ("volume update only valid for cluster volumes, but swarm is unavailable"), and so does HATAKE,
  // which never joins a swarm — that answer is the whole operation on a desktop engine.
  VolumeUpdate: {
    cases: [{ name: "a local volume → 503, as a non-swarm Docker Engine", path: "/volumes/{name}", query: { version: "1" }, body: { Spec: { Availability: "active" } }, status: 503, setup: (api) => volume(api, "conformance-update") }],
    // Docker checks for a swarm manager before looking the volume up: an unknown name is 503 too.
    negative: [{ name: "an unknown volume → 503 (no manager)", path: "/volumes/hatake-conformance-missing", query: { version: "1" }, body: {}, status: 503 }],
  },
  VolumeList: {
    cases: [
      { path: "/volumes" },
      { name: "filters", path: "/volumes", query: { filters: '{"dangling":["true"],"label":["conformance"]}' }, setup: (api) => volume(api, "conformance-list", { conformance: "1" }) },
    ],
  },
  VolumeCreate: {
    cases: [
      {
        name: "named with labels and options",
        path: "/volumes/create",
        body: { Name: "conformance-create", Labels: { a: "b" }, DriverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m" } },
        setup: async (api) => ({ cleanup: async () => void (await api.call("DELETE", "/volumes/conformance-create")) }),
      },
    ],
  },
  VolumeInspect: { cases: [{ path: "/volumes/{name}", setup: (api) => volume(api, "conformance-inspect") }] },
  VolumeDelete: {
    cases: [
      { path: "/volumes/{name}", setup: async (api) => ({ params: (await volume(api, "conformance-delete")).params ?? {} }) },
      { name: "force, missing", path: "/volumes/conformance-missing", query: { force: "true" } },
    ],
  },
  VolumePrune: {
    cases: [{ path: "/volumes/prune", query: { filters: '{"label":["conformance-prune"]}' } }],
  },
};
