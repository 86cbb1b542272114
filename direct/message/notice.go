package message

// Part2NoticeText is the redisclosure notice that travels with every
// disclosure of records covered by 42 CFR part 2: the regulation's own
// abbreviated statement, 42 CFR 2.32(a)(2), word for word. It is written
// into the message body, as its own text part and into the XDM README.
const Part2NoticeText = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."

// part2Filename names the stand-alone text part that carries the notice.
const part2Filename = "42CFR-Part2-Notice.txt"
