import { randomBytes, randomInt } from "node:crypto";
import { htkError } from "../../base/errors/index.ts";

/**
 * A container/exec ID as Docker makes them: 32 random bytes in hex. Docker draws again when the 12-digit
 * short form is all decimal digits, because such a short ID could be mistaken for a number (by
 * `docker ps` users and by tools that parse it).
 */
export function generateId(random: (n: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(32).toString("hex");
    if (!/^\d{12}$/.test(id.slice(0, 12))) return id;
  }
}

/** Docker's short ID: the first 12 hex digits. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

// Our own words (HATAKE is a field): weather and soil adjectives, and the surnames of people who bred,
// grew or studied plants. Docker's format is "adjective_surname".
const ADJECTIVES = [
  "amber", "breezy", "brisk", "calm", "clever", "crisp", "dewy", "dusky", "earnest", "fertile",
  "frosty", "gentle", "golden", "hardy", "humble", "jolly", "keen", "leafy", "lucid", "mellow",
  "misty", "nimble", "patient", "plucky", "quiet", "rainy", "ripe", "rooted", "rustic", "sandy",
  "shady", "sleepy", "sprouting", "steady", "sunny", "tidy", "verdant", "wary", "windy", "zesty",
];

const SURNAMES = [
  "arber", "bailey", "bateson", "borlaug", "burbank", "candolle", "carver", "chase", "clusius",
  "correns", "darwin", "dokuchaev", "eastwood", "fairchild", "fukuoka", "gray", "hales", "hooker",
  "ingenhousz", "jussieu", "kimura", "linnaeus", "maathai", "makino", "mcclintock", "mendel",
  "mexia", "muir", "nageli", "ohwi", "pfeffer", "rothamsted", "sachs", "sprengel", "swaminathan",
  "tournefort", "tschermak", "vavilov", "yuan", "zohary",
];

/**
 * A random "adjective_surname" name. From the second try on a digit is appended, as Docker does, so a
 * crowded name space still finds a free name in a few tries.
 */
export function randomName(attempt: number, pick: (n: number) => number = randomInt): string {
  const adjective = ADJECTIVES[pick(ADJECTIVES.length)] ?? "steady";
  const surname = SURNAMES[pick(SURNAMES.length)] ?? "mendel";
  const name = `${adjective}_${surname}`;
  return attempt > 0 ? `${name}${pick(10)}` : name;
}

/** Docker's rule for container names (daemon/names.go): at least two characters. */
const VALID_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Validates a client-given name and returns it with Docker's leading slash (HTK-ENGINE-0106). */
export function normaliseContainerName(name: string): string {
  if (!VALID_NAME.test(name)) throw htkError("HTK-ENGINE-0106", { name });
  return name.startsWith("/") ? name : `/${name}`;
}

/** How many random names Docker tries before falling back to the short ID. */
export const RANDOM_NAME_ATTEMPTS = 6;
