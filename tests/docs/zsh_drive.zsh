# zsh_drive.zsh FPATH_DIR LINE...: types each LINE followed by TAB TAB into an interactive zsh (on a
# pseudo-terminal, zpty) that has FPATH_DIR first in fpath and compinit loaded, and prints what
# the terminal shows after each, escape sequences removed, under "=== LINE". For
# tests/docs/completion_zsh.test.sh.
zmodload zsh/zpty || exit 1
fndir=$1
shift
zpty -b z 'zsh -f -i'
zpty -w z "PS1='%% '; TERM=dumb; LISTMAX=10000; fpath=($fndir \$fpath); autoload -U compinit; compinit -u -D; print -r -- RE''ADY \$_comps[l2wg]"
# The marker as printed, not as echoed with the command (the quotes tell them apart).
if ! zpty -r -m z out '*READY _l2wg*'; then
  print -r -- "zsh did not load the completion"
  exit 1
fi
integer n=0
for line in "$@"; do
  # Twice: a first TAB may only insert the matches' common prefix; the second lists them.
  zpty -w -n z "$line"$'\t\t'
  # Then ^U (kill-whole-line; ^C's signal would flush what is typed ahead) and a marker command:
  # the shell handles input in order, so all that the completion printed comes before the
  # marker's output (matched as printed, not as echoed: the quotes).
  (( n++ ))
  zpty -w -n z $'\x15'
  zpty -w z "print -r -- MA''RK$n"
  zpty -r -m z out "*MARK$n*" || { print -r -- "no marker after: $line"; exit 1; }
  print -r -- "=== $line"
  print -r -- "${out%%print -r -- MA*}" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' | tr -d '\r\a'
done
zpty -d z
