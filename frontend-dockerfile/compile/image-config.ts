import type { Platform } from "../../llb/index.ts";
import type { BaseImageConfig, HealthcheckSpec, HistorySpec } from "./image-spec.ts";

/**
 * The image config while a stage is dispatched: a mutable copy of the base's config (BuildKit keeps
 * a `DockerOCIImage` per dispatch state and edits it instruction by instruction), turned into the
 * exported `ImageSpec` at the end.
 */

/** system.DefaultPathEnv on Linux: what PATH is when the base image sets none. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface Img {
  architecture: string;
  os: string;
  variant?: string;
  author?: string;
  config: {
    User?: string;
    ExposedPorts?: Record<string, Record<string, never>>;
    Env: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    Volumes?: Record<string, Record<string, never>>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
    ArgsEscaped?: boolean;
    Healthcheck?: HealthcheckSpec;
    OnBuild?: string[];
    Shell?: string[];
  };
  history: HistorySpec[];
  /** Layers of the base (scratch detection). */
  diffIds: readonly string[];
}

export function emptyImage(p: Platform): Img {
  return {
    architecture: p.architecture,
    os: p.os,
    ...(p.variant === undefined ? {} : { variant: p.variant }),
    config: { WorkingDir: "/", Env: [`PATH=${DEFAULT_PATH}`] },
    history: [],
    diffIds: [],
  };
}

export function imageFromConfig(c: BaseImageConfig, p: Platform): Img {
  const cfg = c.config ?? {};
  const out: Img = {
    architecture: c.architecture ?? p.architecture,
    os: c.os ?? p.os,
    ...(c.variant === undefined || c.variant === "" ? {} : { variant: c.variant }),
    ...(c.author === undefined || c.author === "" ? {} : { author: c.author }),
    config: { Env: [...(cfg.Env ?? [])] },
    history: [...(c.history ?? [])],
    diffIds: c.rootfs?.diff_ids ?? [],
  };
  const k = out.config;
  if (cfg.User !== undefined) k.User = cfg.User;
  if (cfg.ExposedPorts !== undefined) k.ExposedPorts = { ...cfg.ExposedPorts };
  if (cfg.Entrypoint !== undefined) k.Entrypoint = [...cfg.Entrypoint];
  if (cfg.Cmd !== undefined) k.Cmd = [...cfg.Cmd];
  if (cfg.Volumes !== undefined) k.Volumes = { ...cfg.Volumes };
  if (cfg.WorkingDir !== undefined) k.WorkingDir = cfg.WorkingDir;
  if (cfg.Labels !== undefined) k.Labels = { ...cfg.Labels };
  if (cfg.StopSignal !== undefined) k.StopSignal = cfg.StopSignal;
  if (cfg.ArgsEscaped !== undefined) k.ArgsEscaped = cfg.ArgsEscaped;
  if (cfg.Healthcheck !== undefined) k.Healthcheck = { ...cfg.Healthcheck, Test: [...cfg.Healthcheck.Test] };
  if (cfg.OnBuild !== undefined) k.OnBuild = [...cfg.OnBuild];
  if (cfg.Shell !== undefined) k.Shell = [...cfg.Shell];
  return out;
}

export function cloneImage(i: Img): Img {
  return structuredClone(i);
}

/** BuildKit `addEnv`: replace the first entry with the same name, else append. */
export function addEnv(env: string[], k: string, v: string): void {
  const i = env.findIndex((e) => (e.includes("=") ? e.slice(0, e.indexOf("=")) : e) === k);
  if (i === -1) env.push(`${k}=${v}`);
  else env[i] = `${k}=${v}`;
}

export function parseKeyValue(e: string): [string, string] {
  const i = e.indexOf("=");
  return i === -1 ? [e, ""] : [e.slice(0, i), e.slice(i + 1)];
}

export function emptyBaseImage(p: Platform): Img {
  // Unresolved: what we know is the platform; the rest comes from the image at solve time.
  return { architecture: p.architecture, os: p.os, ...(p.variant === undefined ? {} : { variant: p.variant }), config: { Env: [] }, history: [], diffIds: [] };
}

export function withShell(img: Img, args: readonly string[]): string[] {
  const shell = img.config.Shell !== undefined && img.config.Shell.length > 0 ? [...img.config.Shell] : img.os === "windows" ? ["cmd", "/S", "/C"] : ["/bin/sh", "-c"];
  return [...shell, args.join(" ")];
}
