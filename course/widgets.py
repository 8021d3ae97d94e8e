"""Interactive figures of the lectures: sliders that redraw a matplotlib figure (units 5 and 6).

``slider_figure(draw, rho=FloatSlider(...))`` shows the sliders, then the figure
that ``draw(rho=...)`` returns, drawn again whenever a slider moves. The figure
is an ordinary image output (updated in place through its display id), not an
ipywidgets Output: a static page of the executed notebook (nbconvert's HTML,
the course website) shows it at the sliders' defaults without any widget
JavaScript.
"""

import matplotlib.pyplot as plt


def slider_figure(draw, **sliders):
    """Display ``sliders`` (ipywidgets, by keyword) and below them the figure ``draw(**values)``.

    ``draw`` takes one keyword per slider and returns a new matplotlib Figure;
    every change of a slider's value draws it again, in place. Returns the
    box of sliders (assign it, or the notebook shows the sliders twice).
    """
    import ipywidgets as widgets
    from IPython.display import display

    def current_figure():
        fig = draw(**{name: s.value for name, s in sliders.items()})
        plt.close(fig)  # shown through the display handle only, not again by the inline backend
        return fig

    box = widgets.HBox(list(sliders.values()))
    display(box)
    handle = display(current_figure(), display_id=True)

    def redraw(_change):
        handle.update(current_figure())

    for s in sliders.values():
        s.continuous_update = False  # redraw on release: one figure per move, not one per pixel
        s.observe(redraw, names="value")
    return box
