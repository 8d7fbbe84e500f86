import type { ApiClient, Fixture, ImplementedOperation } from "./implemented.ts";

/** Unix seconds with nanoseconds, as the docker CLI sends since/until. */
function unixSeconds(ms: number): string {
  return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, "0")}000000`;
}

/** Two volume events inside a closed time window, so `/events` answers them and ends. */
async function eventWindow(api: ApiClient): Promise<Fixture> {
  const since = unixSeconds(Date.now() - 1000);
  await api.call("POST", "/volumes/create", { body: { Name: "conformance-events" } });
  await api.call("DELETE", "/volumes/conformance-events");
  return { params: { since, until: unixSeconds(Date.now() + 1) } };
}

/** The System tag beyond ping and version (issue 7): /info, /events, /system/df. */
export const IMPLEMENTED_SYSTEM: Readonly<Record<string, ImplementedOperation>> = {
  SystemInfo: { cases: [{ path: "/info" }] },
  SystemEvents: {
    cases: [
      {
        name: "a closed window, filtered",
        path: "/events",
        query: { since: "{since}", until: "{until}", filters: '{"type":["volume"],"volume":["conformance-events"]}' },
        setup: eventWindow,
      },
    ],
    negative: [{ name: "since after until → 400", path: "/events", query: { since: "20", until: "10" }, status: 400 }],
  },
  SystemDataUsage: {
    cases: [
      {
        path: "/system/df",
        setup: async (api) => {
          await api.call("POST", "/volumes/create", { body: { Name: "conformance-df" } });
          return { cleanup: async () => void (await api.call("DELETE", "/volumes/conformance-df")) };
        },
      },
      { name: "volumes and images only", path: "/system/df?type=volume&type=image" },
    ],
  },
};
