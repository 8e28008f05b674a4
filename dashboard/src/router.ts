import { useEffect, useState } from "preact/hooks";

/**
 * Path routing with the History API: each page has a real URL (the servers answer index.html
 * for them), Back works, and links stay links (open in a new tab, keyboard Enter).
 */
const listeners = new Set<() => void>();

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  for (const l of listeners) l();
  // The new page's heading takes focus, so a screen reader and the keyboard start there.
  queueMicrotask(() => document.querySelector<HTMLElement>("main h1")?.focus());
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    listeners.add(update);
    addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      removeEventListener("popstate", update);
    };
  }, []);
  return path;
}

/** A click on a same-origin link becomes a navigation without a reload (modified clicks are left alone). */
export function onLinkClick(e: MouseEvent): void {
  const a = (e.target as Element | null)?.closest?.("a");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = a.getAttribute("href");
  if (!href?.startsWith("/") || href.startsWith("//") || a.target) return;
  e.preventDefault();
  navigate(href);
}
