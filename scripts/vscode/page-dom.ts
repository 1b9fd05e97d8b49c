/**
 * The few browser-side DOM types that code run inside the page (page.evaluate) uses. The project
 * compiles without the DOM library, so these stand in for it, for that code only.
 */
export interface PageElement {
  className: string;
  textContent: string | null;
  querySelector(selector: string): PageElement | null;
}

export interface PageGlobals {
  document: { querySelectorAll(selector: string): ArrayLike<PageElement> };
  getComputedStyle(element: unknown): { backgroundColor: string };
}
