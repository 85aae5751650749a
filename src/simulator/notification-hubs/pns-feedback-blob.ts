import type { MessagePlan, PnsBlobEncoding } from './message-plan.js';
import { escapeXml } from './render.js';

/**
 * The PNS error-details blob of a simulated message, as the service writes it: one `<PnsFeedback>`
 * record per line, each with its own `<?xml version="1.0" encoding="utf-16"?>` declaration, the
 * whole blob encoded UTF-16. Real records declare UTF-16; the byte order and BOM of real blobs are
 * not documented, so the encoding is a plan setting (UTF-16LE with a BOM, what .NET's
 * `Encoding.Unicode` writes, unless a scenario asks for another) and the exporter must read them all.
 */
export interface PnsErrorRecordPlan {
  platform: string;
  error: string;
}

/** One record per failed device: every outcome but Success, Skipped and NoTargets. */
export function errorRecords(plan: MessagePlan): PnsErrorRecordPlan[] {
  if (!plan.errorDetails || plan.finalState === 'Canceled' || plan.finalState === 'Processing') return [];
  if (plan.errorDetails.body !== undefined) return [];
  const records: PnsErrorRecordPlan[] = [];
  for (const [collection, counts] of Object.entries(plan.outcomes)) {
    const platform = collection.replace(/OutcomeCounts$/, '').toLowerCase();
    for (const [error, count] of Object.entries(counts)) {
      if (['Success', 'Skipped', 'NoTargets'].includes(error)) continue;
      for (let index = 0; index < count; index += 1) records.push({ platform, error });
    }
  }
  return records;
}

/** Whether a terminal message's telemetry names a blob: it has records, or a scenario gives the blob's bytes. */
export function hasErrorDetails(plan: MessagePlan): boolean {
  if (!plan.errorDetails || plan.finalState === 'Canceled' || plan.finalState === 'Processing') return false;
  return plan.errorDetails.body !== undefined || errorRecords(plan).length > 0;
}

export function renderPnsFeedbackBlob(plan: MessagePlan, notificationId: string): Buffer {
  const body = plan.errorDetails?.body;
  if (body !== undefined) return Buffer.from(body);
  const text = errorRecords(plan)
    .map((record, index) => renderPnsFeedback(record, notificationId, index))
    .join('\r\n');
  return encodeText(text, plan.errorDetails?.encoding ?? 'utf-16le-bom');
}

export function encodeText(text: string, encoding: PnsBlobEncoding): Buffer {
  switch (encoding) {
    case 'utf-8':
      return Buffer.from(text, 'utf8');
    case 'utf-8-bom':
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]);
    case 'utf-16le':
      return Buffer.from(text, 'utf16le');
    case 'utf-16le-bom':
      return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    case 'utf-16be':
      return Buffer.from(text, 'utf16le').swap16();
    case 'utf-16be-bom':
      return Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()]);
  }
}

function renderPnsFeedback(record: PnsErrorRecordPlan, notificationId: string, index: number): string {
  return (
    `<?xml version="1.0" encoding="utf-16"?><PnsFeedback xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect">` +
    `<FeedbackTime>2026-03-01T10:00:${String(index % 60).padStart(2, '0')}.1234567Z</FeedbackTime>` +
    `<NotificationSystemError>${escapeXml(record.error)}</NotificationSystemError><Platform>${escapeXml(record.platform)}</Platform>` +
    `<PnsHandle>device-token-${escapeXml(notificationId)}-${index}-SECRETDEVICETOKENVALUE</PnsHandle>` +
    `<RegistrationId>70000000000000${1000 + index}-1</RegistrationId><NotificationId>${escapeXml(notificationId)}</NotificationId></PnsFeedback>`
  );
}
