package io.flatfare.support.api;

import io.quarkus.arc.Arc;
import jakarta.enterprise.inject.Any;
import jakarta.inject.Singleton;
import jakarta.ws.rs.HttpMethod;
import jakarta.ws.rs.Path;
import java.lang.annotation.Annotation;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The methods each path of a service's REST resources answers: for the {@code Allow} header that a 405 must carry
 * (RFC 9110, 15.5.6), and for the answer to {@code OPTIONS}. RESTEasy Reactive finds that a path is served under other
 * methods but sends its 405 without the header, and answers {@code OPTIONS} on any path under a resource class with
 * every method of the class; so the routes are read from the resource classes' own {@code @Path} and method
 * annotations, once, at first use.
 */
@Singleton
public class AllowedMethods {

    private record Route(Pattern path, String method) {}

    private volatile List<Route> routes;

    /** The application's routes, read at first use from its beans annotated with {@code @Path}. */
    AllowedMethods() {}

    private AllowedMethods(List<Route> routes) {
        this.routes = routes;
    }

    private List<Route> routes() {
        List<Route> read = routes;
        if (read == null) {
            var beans = Arc.container().beanManager().getBeans(Object.class, Any.Literal.INSTANCE);
            List<Class<?>> resources = new ArrayList<>();
            for (var bean : beans) {
                if (bean.getBeanClass().isAnnotationPresent(Path.class)) {
                    resources.add(bean.getBeanClass());
                }
            }
            read = read(resources);
            routes = read; // racing first readers each read the same
        }
        return read;
    }

    /** The routes of these resource classes (each annotated with {@code @Path}). */
    public static AllowedMethods of(Collection<Class<?>> resources) {
        return new AllowedMethods(read(resources));
    }

    private static List<Route> read(Collection<Class<?>> resources) {
        List<Route> routes = new ArrayList<>();
        for (Class<?> resource : resources) {
            String base = resource.getAnnotation(Path.class).value();
            for (Class<?> c = resource; c != null && c != Object.class; c = c.getSuperclass()) {
                for (Method method : c.getDeclaredMethods()) {
                    String httpMethod = httpMethod(method);
                    if (httpMethod == null) {
                        continue; // not a resource method (a sub-resource locator has none either)
                    }
                    Path sub = method.getAnnotation(Path.class);
                    routes.add(new Route(template(join(base, sub == null ? "" : sub.value())), httpMethod));
                }
            }
        }
        return List.copyOf(routes);
    }

    /**
     * The {@code Allow} value for a request path, e.g. {@code "GET, HEAD, OPTIONS"}: every method some resource serves
     * it with, {@code HEAD} wherever {@code GET} is served (RESTEasy answers it with the GET method), and
     * {@code OPTIONS} (see {@link OptionsRequests}). Empty when no resource serves the path.
     */
    public Optional<String> allow(String path) {
        var methods = new TreeSet<String>();
        for (Route route : routes()) {
            if (route.path().matcher(path).matches()) {
                methods.add(route.method());
                if (HttpMethod.GET.equals(route.method())) {
                    methods.add(HttpMethod.HEAD);
                }
            }
        }
        if (methods.isEmpty()) {
            return Optional.empty();
        }
        methods.add(HttpMethod.OPTIONS);
        return Optional.of(String.join(", ", methods));
    }

    private static String httpMethod(Method method) {
        for (Annotation annotation : method.getAnnotations()) {
            HttpMethod http = annotation.annotationType().getAnnotation(HttpMethod.class);
            if (http != null) {
                return http.value();
            }
        }
        return null;
    }

    /** Class and method paths joined as RESTEasy joins them: one slash between, none at the end. */
    private static String join(String base, String sub) {
        String path = ("/" + base + "/" + sub).replaceAll("/{2,}", "/");
        return path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    }

    /**
     * A JAX-RS path template as a regular expression: literal text quoted, {@code {name}} one path segment,
     * {@code {name: regex}} its own expression (which may hold braces of its own, as in {@code \d{4}}). A trailing
     * slash is optional, as RESTEasy matches it.
     */
    static Pattern template(String template) {
        var regex = new StringBuilder();
        int i = 0;
        while (i < template.length()) {
            int open = template.indexOf('{', i);
            if (open < 0) {
                regex.append(Pattern.quote(template.substring(i)));
                break;
            }
            if (open > i) {
                regex.append(Pattern.quote(template.substring(i, open)));
            }
            int depth = 0;
            int close = open;
            for (; close < template.length(); close++) {
                char ch = template.charAt(close);
                if (ch == '{') {
                    depth++;
                } else if (ch == '}' && --depth == 0) {
                    break;
                }
            }
            if (close == template.length()) {
                throw new IllegalArgumentException("Unbalanced braces in the path template " + template);
            }
            String variable = template.substring(open + 1, close);
            int colon = variable.indexOf(':');
            regex.append(
                    colon < 0 ? "[^/]+" : "(?:" + variable.substring(colon + 1).trim() + ")");
            i = close + 1;
        }
        return Pattern.compile(regex + "/?");
    }
}
