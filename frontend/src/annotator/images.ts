/**
 * Frame images, loaded once and kept (a small LRU of decoded images) so that stepping through
 * frames redraws at once; neighbours are preloaded. Same-origin URLs: the session cookie goes along.
 */
const CACHE_SIZE = 24;
const cache = new Map<string, Promise<HTMLImageElement>>();

export function loadImage(url: string): Promise<HTMLImageElement> {
  const hit = cache.get(url);
  if (hit) {
    cache.delete(url);
    cache.set(url, hit); // most recently used last
    return hit;
  }
  const promise = new Promise<HTMLImageElement>((resolve, reject) => {
    const img = new Image();
    img.decoding = "async";
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`The frame image could not be loaded (${url}).`));
    img.src = url;
  });
  promise.catch(() => cache.delete(url));
  cache.set(url, promise);
  while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return promise;
}

export function preloadImages(urls: readonly string[]): void {
  for (const url of urls) void loadImage(url).catch(() => undefined);
}
