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
for line in "$@"; do
  # Twice: a first TAB may only insert the matches' common prefix; the second lists them.
  zpty -w -n z "$line"$'\t'
  sleep 0.4
  zpty -w -n z $'\t'
  sleep 0.4
  out=''
  while zpty -r -t z chunk; do out+=$chunk; done
  print -r -- "=== $line"
  print -r -- "$out" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' | tr -d '\r\a'
  zpty -w -n z $'\x03'  # ^C: a fresh line for the next one
  sleep 0.2
  while zpty -r -t z chunk; do :; done
done
zpty -d z
