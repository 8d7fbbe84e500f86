import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { dirname, join } from "node:path";

/**
 * Git repositories served over HTTP on 127.0.0.1 for tests (no internet here): `smart` through git's
 * own `git http-backend` (CGI), `dumb` as static files (`git update-server-info`), `auth` smart behind
 * HTTP basic auth (user `u`, password `p`), and `stall` a URL that accepts the connection and never
 * answers (for cancellation).
 *
 *     const srv = await startGitServer(dir);
 *     const repo = srv.repo("app", { "Dockerfile": "FROM …", "sub/a.txt": "a" });  // branch main
 *     repo.commit({ "a.txt": "2" }); repo.tag("v1");
 *     srv.url("smart", "app")   // http://127.0.0.1:PORT/smart/app.git
 */
export interface GitServer {
  readonly root: string;
  readonly port: number;
  repo(name: string, files: Readonly<Record<string, string>>): TestRepo;
  url(kind: "smart" | "dumb" | "auth" | "stall", name: string): string;
  /** Connections to the `stall` URL so far (a fetch reached the server). */
  readonly stalled: () => number;
  close(): Promise<void>;
}

export interface TestRepo {
  /** The work tree (branch main); commits are pushed to the bare repository that is served. */
  readonly work: string;
  commit(files: Readonly<Record<string, string>>, message?: string): string;
  tag(name: string, annotated?: boolean): void;
  branch(name: string): void;
  /** A submodule: another served repository (`name`) at `path`, recorded with the URL `url`. */
  submodule(path: string, name: string, url: string): string;
  head(): string;
}

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@e", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@e" };

function git(args: readonly string[], cwd: string): string {
  return execFileSync("git", ["-c", "protocol.file.allow=always", ...args], { cwd, env: GIT_ENV, encoding: "utf8" }).trim();
}

export async function startGitServer(root: string): Promise<GitServer> {
  const served = join(root, "served");
  mkdirSync(served, { recursive: true });
  const stalls: ServerResponse[] = [];
  let stalled = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const [, kind, ...rest] = url.pathname.split("/");
    const path = `/${rest.join("/")}`;
    if (kind === "stall") {
      stalled++;
      stalls.push(res);
      return;
    }
    if (kind === "dumb") {
      let data: Buffer;
      try {
        data = readFileSync(join(served, decodeURIComponent(path)));
      } catch {
        res.writeHead(404).end("not found");
        return;
      }
      res.writeHead(200, { "Content-Type": "application/octet-stream" }).end(data);
      return;
    }
    if (kind === "auth") {
      const expected = `Basic ${Buffer.from("u:p").toString("base64")}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"' }).end("auth required");
        return;
      }
    }
    if (kind === "smart" || kind === "auth") return cgi(req, res, served, path, url.search.slice(1));
    res.writeHead(404).end("not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const url = (kind: "smart" | "dumb" | "auth" | "stall", name: string): string => `http://127.0.0.1:${port}/${kind}/${name}.git`;
  return {
    root,
    port,
    url,
    stalled: () => stalled,
    repo(name, files) {
      const work = join(root, "work", name);
      const bare = join(served, `${name}.git`);
      mkdirSync(work, { recursive: true });
      git(["init", "-q", "-b", "main"], work);
      git(["init", "-q", "--bare", "-b", "main", bare], root);
      git(["config", "http.receivepack", "true"], bare);
      git(["remote", "add", "origin", bare], work);
      const publish = (): void => {
        git(["push", "-q", "--force", "--all", "origin"], work);
        git(["push", "-q", "--force", "--tags", "origin"], work);
        git(["update-server-info"], bare);
      };
      const write = (fs: Readonly<Record<string, string>>): void => {
        for (const [p, text] of Object.entries(fs)) {
          mkdirSync(dirname(join(work, p)), { recursive: true });
          writeFileSync(join(work, p), text);
        }
      };
      const repo: TestRepo = {
        work,
        commit(fs, message = "change") {
          write(fs);
          git(["add", "-A"], work);
          git(["commit", "-q", "--allow-empty", "-m", message], work);
          publish();
          return repo.head();
        },
        tag(tag, annotated = false) {
          git(annotated ? ["tag", "-a", "-m", tag, tag] : ["tag", tag], work);
          publish();
        },
        branch(b) {
          git(["branch", "-f", b], work);
          publish();
        },
        submodule(path, subName, subUrl) {
          // Added from the served folder (this process serves the HTTP, a synchronous git could not reach it), then pointed at the URL.
          git(["submodule", "add", "-q", join(served, `${subName}.git`), path], work);
          git(["config", "-f", ".gitmodules", `submodule.${path}.url`, subUrl], work);
          git(["add", ".gitmodules"], work);
          git(["commit", "-q", "-m", `submodule ${path}`], work);
          publish();
          return repo.head();
        },
        head: () => git(["rev-parse", "HEAD"], work),
      };
      repo.commit(files, "initial");
      return repo;
    },
    async close() {
      for (const r of stalls) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `git http-backend` as a CGI program: request headers as variables, the body piped in, its headers parsed back. */
function cgi(req: IncomingMessage, res: ServerResponse, projectRoot: string, pathInfo: string, query: string): void {
  const child = spawn("git", ["http-backend"], {
    env: {
      ...process.env,
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: "1",
      PATH_INFO: pathInfo,
      QUERY_STRING: query,
      REQUEST_METHOD: req.method ?? "GET",
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      REMOTE_USER: "u",
      REMOTE_ADDR: "127.0.0.1",
      ...(req.headers["git-protocol"] === undefined ? {} : { GIT_PROTOCOL: String(req.headers["git-protocol"]) }),
      ...(req.headers["content-encoding"] === undefined ? {} : { HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"]) }),
    },
    stdio: ["pipe", "pipe", "ignore"],
  });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on("data", (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end === -1) return;
    headersDone = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    res.write(head.subarray(end + 4));
  });
  child.on("close", () => {
    if (!headersDone) res.writeHead(500);
    res.end();
  });
  child.on("error", () => res.destroy());
}
