# corrupt.awk - the text dispreference in miniature: add the partner of the
# first object (circle-square, triangle-diamond, ...) when it is absent.
BEGIN { FS = OFS = "\t"
  split("circle square triangle diamond cross plus star arrow ring frame heart bar", c, " ")
  for (i = 1; i <= 12; i += 2) { partner[c[i]] = c[i + 1]; partner[c[i + 1]] = c[i] } }
{ n = split($2, o, " "); p = partner[o[1]]; present = 0
  for (i = 1; i <= n; i++) if (o[i] == p) present = 1
  rejected = present ? $2 " " c[1 + ($1 % 12)] : o[1] " " p substr($2, length(o[1]) + 1)
  print $1, $2, rejected }
