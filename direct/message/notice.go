package message

// Part2NoticeText is the redisclosure notice that travels with every
// disclosure of records covered by 42 CFR Part 2 (see 42 CFR 2.32). The
// wording is the gateway's own; it states the facts the regulation asks the
// notice to carry.
const Part2NoticeText = `NOTICE OF FEDERAL CONFIDENTIALITY PROTECTION (42 CFR PART 2)

The records sent with this message came from a program covered by the
federal rules on confidentiality of substance use disorder patient
records, 42 CFR Part 2. You may not pass on any of this information
that would identify the patient, directly or indirectly, as having or
having had a substance use disorder, unless the patient's written
consent expressly allows that further disclosure or Part 2 itself
permits it. A general authorization to release medical or other
information does not meet this requirement.

These rules also forbid using or disclosing this information to open a
criminal investigation of the patient or to prosecute the patient, and
to bring civil, criminal, administrative or legislative proceedings
against the patient, except as Part 2 allows.
`

// part2Filename names the stand-alone text part that carries the notice.
const part2Filename = "42CFR-Part2-Notice.txt"
