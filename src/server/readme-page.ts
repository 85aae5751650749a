import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The README as a plain HTML page, so that the alerts' runbook_url (README "Runbooks") opens
 * wherever the exporter runs, matching its version. Deliberately not a Markdown renderer: each
 * section keeps its Markdown text (readable as it is), headings get the anchors GitHub would give
 * them (### PushNotificationsAbandoned -> #pushnotificationsabandoned) and links become links.
 */

/** README.md of the installed package: dist/server/ and src/server/ are both two folders below it. */
export const installedReadmePath = fileURLToPath(new URL('../../README.md', import.meta.url));

export function loadReadmePage(path: string = installedReadmePath): string | undefined {
  let markdown: string;
  try {
    markdown = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  return renderReadmePage(markdown);
}

interface Section {
  level: number;
  title: string;
  lines: string[];
}

export function renderReadmePage(markdown: string): string {
  const slugs = new Map<string, number>();
  const body = splitSections(markdown)
    .map((section) => {
      const heading = section.level === 0 ? '' : `<h${section.level} id="${uniqueSlug(section.title, slugs)}">${inline(section.title)}</h${section.level}>\n`;
      const text = section.lines.join('\n').trim();
      return `${heading}${text === '' ? '' : `<pre>${inline(text)}</pre>\n`}`;
    })
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>push-notification-exporter README</title>
<style>body{font-family:sans-serif;max-width:60rem;margin:auto;padding:0 1rem}pre{white-space:pre-wrap;font-size:.9rem}</style>
</head><body>
${body}</body></html>
`;
}

/** Sections by heading; a # inside a fenced code block is a comment, not a heading. */
function splitSections(markdown: string): Section[] {
  const sections: Section[] = [{ level: 0, title: '', lines: [] }];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^(#{1,6})\s+(.+?)\s*$/.exec(line);
    if (heading) sections.push({ level: (heading[1] as string).length, title: heading[2] as string, lines: [] });
    else (sections.at(-1) as Section).lines.push(line);
  }
  return sections;
}

/** GitHub's anchor: lower case, punctuation dropped, spaces as hyphens, -1, -2 … for repeats. */
export function githubSlug(title: string): string {
  return title
    .replace(/`/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function uniqueSlug(title: string, seen: Map<string, number>): string {
  const slug = githubSlug(title);
  const count = seen.get(slug) ?? 0;
  seen.set(slug, count + 1);
  return count === 0 ? slug : `${slug}-${count}`;
}

/** Escapes the text, then turns [text](#anchor) and [text](https://…) into links; nothing else. */
function inline(text: string): string {
  return escapeHtml(text).replace(/\[([^\]\n]+)\]\((#[\w-]+|https?:\/\/[^\s()<>"]+)\)/g, '<a href="$2">[$1]</a>');
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
