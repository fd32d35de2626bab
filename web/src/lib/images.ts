// Images for vision models. Qwen3-VL spends one token per 32 x 32 pixels (after its own resize), so frames and
// pictures are scaled in the browser to the user's token budget before they are sent: that saves upload, decoding
// and prefill, and the engine would resize them anyway.

export const DEFAULT_IMAGE_TOKENS = 1024;

/** The size of a w x h image scaled (never up) so that w * h / 1024 <= tokens. */
export function fitToBudget(w: number, h: number, tokens: number): { w: number; h: number } {
  const s = Math.min(1, Math.sqrt((tokens * 1024) / (w * h)));
  return { w: Math.max(1, Math.floor(w * s)), h: Math.max(1, Math.floor(h * s)) };
}

/** A frame of a video, canvas or bitmap as a JPEG data: URL scaled to the budget. */
export function frameToDataUrl(src: CanvasImageSource, w: number, h: number, tokens: number): string {
  const size = fitToBudget(w, h, tokens);
  const c = document.createElement('canvas');
  c.width = size.w;
  c.height = size.h;
  const g = c.getContext('2d');
  if (!g) throw new Error('no 2D canvas');
  g.imageSmoothingQuality = 'high';
  g.drawImage(src, 0, 0, size.w, size.h);
  return c.toDataURL('image/jpeg', 0.92);
}

function readAsDataUrl(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error ?? new Error('unreadable file'));
    r.readAsDataURL(file);
  });
}

/** A pasted or dropped image file as a data: URL: its own bytes when it fits the budget, else scaled down. */
export async function imageFileToDataUrl(file: File, tokens: number): Promise<string> {
  if (!file.type.startsWith('image/')) throw new Error(`${file.name || 'the file'} is not an image`);
  const bitmap = await createImageBitmap(file).catch(() => {
    throw new Error(`${file.name || 'the image'} cannot be decoded`);
  });
  try {
    if (bitmap.width * bitmap.height <= tokens * 1024) return await readAsDataUrl(file);
    return frameToDataUrl(bitmap, bitmap.width, bitmap.height, tokens);
  } finally {
    bitmap.close();
  }
}
