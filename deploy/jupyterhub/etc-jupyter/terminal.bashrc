# The hub's terminals: jupyter_server_config.py starts `bash --rcfile THIS_FILE -i`.
# An interactive bash as usual (the system's and the user's bashrc), then the course's environment
# first on PATH, as the server has it: `course`, `nbgrader`, `python`. (Jupyter's default, a login
# shell, reads /etc/profile, which resets PATH and drops the environment.)
[ -r /etc/bash.bashrc ] && . /etc/bash.bashrc
[ -r ~/.bashrc ] && . ~/.bashrc
case "$PATH" in
    "$COURSE_HUB_BIN":*) ;;
    *) [ -n "$COURSE_HUB_BIN" ] && export PATH="$COURSE_HUB_BIN:$PATH" ;;
esac
