import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { githubSlug, installedReadmePath, loadReadmePage, renderReadmePage } from './readme-page.js';

describe('the README page (/readme)', () => {
  it('gives headings the anchors GitHub gives them, repeats numbered, and ignores # inside code blocks', () => {
    const page = renderReadmePage(
      ['# Title', 'intro', '## From a spike to one notification', '```promql', '# failure ratio', 'rate(x[5m])', '```', '### PushNotificationsAbandoned', '## Notes', '## Notes'].join('\n'),
    );
    expect([...page.matchAll(/ id="([^"]+)"/g)].map((match) => match[1])).toEqual([
      'title',
      'from-a-spike-to-one-notification',
      'pushnotificationsabandoned',
      'notes',
      'notes-1',
    ]);
    expect(page).toContain('# failure ratio');
    expect(githubSlug('`storage.path` and TLS (mutual)')).toBe('storagepath-and-tls-mutual');
  });

  it('escapes the text and links only in-page anchors and http(s) URLs', () => {
    const page = renderReadmePage('see [classification](#failure-classification), [docs](https://learn.microsoft.com/x?a=1&b=2), [bad](javascript:alert(1)) <script>x</script> "q"');
    expect(page).toContain('<a href="#failure-classification">[classification]</a>');
    expect(page).toContain('<a href="https://learn.microsoft.com/x?a=1&amp;b=2">[docs]</a>');
    expect(page).toContain('[bad](javascript:alert(1))');
    expect(page).toContain('&lt;script&gt;x&lt;/script&gt; &quot;q&quot;');
    expect(page).not.toContain('<script>');
  });

  it('renders the repository README with an anchor for every alert runbook, and nothing when the file is missing', () => {
    const page = loadReadmePage();
    expect(readFileSync(installedReadmePath, 'utf8')).toContain('## Runbooks');
    for (const alert of ['PushNotificationFailureRatioHigh', 'PushNotificationFailureSpike', 'PushNotificationsAbandoned', 'PushNotificationInvalidCredentials', 'PushNotificationSourceDown', 'PushNotificationTelemetryStale']) {
      expect(page).toContain(`<h3 id="${alert.toLowerCase()}">${alert}</h3>`);
    }
    expect(page).toContain('<h2 id="runbooks">Runbooks</h2>');
    expect(loadReadmePage('/nonexistent/README.md')).toBeUndefined();
  });
});
