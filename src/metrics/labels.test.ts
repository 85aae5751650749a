import { describe, expect, it } from 'vitest';
import { OutcomeLabeler } from './labels.js';
import { canonicalOutcome, isFailureOutcome, knownAzureOutcomes } from './outcome-classes.js';

describe('canonicalOutcome', () => {
  it('folds the case of every known name, and only of known names', () => {
    expect(knownAzureOutcomes).toHaveLength(24);
    for (const name of knownAzureOutcomes) {
      expect(canonicalOutcome(name.toLowerCase())).toBe(name);
      expect(canonicalOutcome(name.toUpperCase())).toBe(name);
    }
    expect(canonicalOutcome('someFutureOutcome')).toBe('someFutureOutcome');
    // The Kelvin sign lower-cases to "k": a look-alike is not the known name.
    expect(canonicalOutcome('WrongTo\u212Aen')).toBe('WrongTo\u212Aen');
    expect(isFailureOutcome(canonicalOutcome('success'))).toBe(false);
    expect(isFailureOutcome(canonicalOutcome('skipped'))).toBe(false);
    expect(isFailureOutcome(canonicalOutcome('wrongtoken'))).toBe(true);
  });
});

describe('OutcomeLabeler', () => {
  it('labels known names canonically, even past the cap, and unknown names verbatim up to it', () => {
    const labeler = new OutcomeLabeler();
    for (let index = 0; index < 64; index += 1) expect(labeler.labelFor('prod', `Future${index}`)).toBe(`Future${index}`);
    expect(labeler.labelFor('prod', 'Future64')).toBe('Other');
    expect(labeler.labelFor('prod', 'invalidcredentials')).toBe('InvalidCredentials');
    expect(labeler.labelFor('prod', 'Success')).toBe('Success');
    expect(labeler.labelFor('other-target', 'Future64')).toBe('Future64');
  });

  it('gives no slot to restored spellings of known names: they are never labelled again', () => {
    const labeler = new OutcomeLabeler();
    labeler.remember('prod', 'success');
    labeler.remember('prod', 'WrongToken');
    for (let index = 0; index < 64; index += 1) expect(labeler.labelFor('prod', `Future${index}`)).toBe(`Future${index}`);
    expect(labeler.labelFor('prod', 'success')).toBe('Success');
  });
});
