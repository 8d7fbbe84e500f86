import { familiarName, parseReference } from "../../base/oci/index.ts";
import { chainIds, type ImageEvent, type ImageInspect, type ImageRecord, type ImageStore } from "../images/index.ts";
import type { Snapshotter } from "../snapshots/index.ts";
import type { EventDraft } from "../state/index.ts";

/** The engine's hooks of the image store: how its events are logged and what GraphDriver inspect shows. */

/**
 * An image store event as Docker 26 logs it (`ImageService.LogImageEvent(imageID, refName, action)`):
 * the image's labels, then `name`. Which ID and name depend on the action:
 *
 * | action | Actor.ID | name |
 * |---|---|---|
 * | tag | image ID | the new tag ("busybox:latest") |
 * | pull, push | the reference ("busybox:latest") | its repository ("busybox") |
 * | untag, delete, load, save, import | image ID | image ID |
 */
export function imageEventDraft(images: ImageStore, e: ImageEvent): EventDraft {
  let actor: string = e.id;
  let name: string = e.id;
  switch (e.action) {
    case "tag":
      name = e.name ?? e.id;
      break;
    case "pull":
    case "push": {
      actor = e.name ?? e.id;
      const r = parseReference(actor);
      name = r.ok ? familiarName(r.value) : actor;
      break;
    }
    case "untag":
    case "delete":
    case "load":
    case "save":
    case "import":
      break;
  }
  const labels = images.get(e.id)?.labels ?? {};
  return { Type: "image", Action: e.action, Actor: { ID: actor, Attributes: { ...labels, name } } };
}

/**
 * `GraphDriver` of `docker image inspect`: the snapshotter's name (as /info reports the storage
 * driver), and where the image's layers are unpacked, in overlay2's terms (`UpperDir` the top layer,
 * `LowerDir` the ones below, top first) once a container or build has unpacked them; `{}` before.
 */
export function imageGraphDriver(snapshots: Snapshotter, image: ImageRecord): ImageInspect["GraphDriver"] {
  const name = snapshots.mode === "overlay" ? "overlayfs" : "native";
  const chains = chainIds(image.layers.map((l) => l.diffId));
  if (chains.length === 0 || !chains.every((c) => snapshots.has(c))) return { Name: name, Data: {} };
  const dirs = chains.map((c) => snapshots.dir(c)).reverse();
  const [upper, ...lower] = dirs;
  return { Name: name, Data: { ...(lower.length > 0 ? { LowerDir: lower.join(":") } : {}), UpperDir: upper ?? "" } };
}
